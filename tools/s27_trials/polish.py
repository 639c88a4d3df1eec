"""Val experiment: polish the bundled student with more noisy steps; report noiseless and 10 dB val accuracy."""
import json, sys, types, time, numpy as np, torch
torch.set_num_threads(1)
from sdrkit.tasks.airnet import train as T
from sdrkit.tasks.airnet.sweep import load_data
from sdrkit.tasks.airnet.evaluate import Scorer
from sdrkit.dsp import weights_link as wl
from sdrkit.nn.airnet import AirStudent

steps, lo, hi, lr, sk = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "sk"
card = json.load(open("models/airnet/card.json"))
power = card["extra"]["delivery"]["power_db"]
kw = card["architecture"]["kwargs"]
net = AirStudent(11, kw["widths"], kw["hidden"]); net.load_state_dict(torch.load("models/airnet/student.pt")); net.eval()
cfg = types.SimpleNamespace(data="data/amc", frames=30000, min_snr=-6.0, seed=0, teacher="models/amc/card.json")
data, xv, yv = load_data(cfg)
sc = Scorer(xv, yv)
expand = None
if sk:
    t = 0.6098367211363063
    expand = {n: t for n, _ in net.named_parameters()}
def report(tag, net, power):
    p = T.params_np(net)
    accs = [sc(net, wl.deliver_math(p, 10.0, np.random.default_rng(100 + i), expand, power=power)) for i in range(16)]
    print(tag, "noiseless", sc(net), "10dB", round(float(np.mean(accs)), 4), "+-", round(float(np.std(accs) / 4), 4), flush=True)
report("before", net, power)
if steps:
    for p in net.parameters(): p.requires_grad_(True)
    gains = T.PowerGains(wl.specs_of(T.params_np(net)), expand, power)
    t0 = time.process_time()
    T.fit(net, data, steps, True, True, (lo, hi), expand=expand, lr=lr, batch=64, seed=7, crop=512, channel="torch", gains=gains)
    print("cpu", time.process_time() - t0)
    report(f"after {steps} {lo}-{hi} lr{lr}", net, gains.db())
