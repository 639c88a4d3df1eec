"""Val experiment: polish with stochastic weight averaging (flat minima, more noise-robust?)."""
import json, sys, types, time, copy, numpy as np, torch
torch.set_num_threads(1)
from torch.func import functional_call
from sdrkit.tasks.airnet import train as T
from sdrkit.tasks.airnet.sweep import load_data
from sdrkit.tasks.airnet.evaluate import Scorer
from sdrkit.dsp import weights_link as wl
from sdrkit.nn.airnet import AirStudent

steps, lr, swa_from, lo, hi, K = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
card = json.load(open("models/airnet/card.json"))
power = card["extra"]["delivery"]["power_db"]
kw = card["architecture"]["kwargs"]
net = AirStudent(11, kw["widths"], kw["hidden"]); net.load_state_dict(torch.load("models/airnet/student.pt")); net.eval()
cfg = types.SimpleNamespace(data="data/amc", frames=30000, min_snr=-6.0, seed=0, teacher="models/amc/card.json")
data, xv, yv = load_data(cfg)
sc = Scorer(xv, yv)
def report(tag, net, power):
    p = T.params_np(net)
    accs = [sc(net, wl.deliver_math(p, 10.0, np.random.default_rng(100 + i), None, power=power)) for i in range(24)]
    print(tag, "noiseless", sc(net), "10dB", round(float(np.mean(accs)), 4), "+-", round(float(np.std(accs) / np.sqrt(24)), 4), flush=True)
for p in net.parameters(): p.requires_grad_(True)
gains = T.PowerGains(wl.specs_of(T.params_np(net)), None, power)
opt = torch.optim.Adam([{"params": list(net.parameters())}, {"params": [gains.theta], "lr": 0.03}], lr=lr)
sch = torch.optim.lr_scheduler.MultiStepLR(opt, [int(steps * 2 / 3)], 0.1)
g = torch.Generator().manual_seed(7); rng = np.random.default_rng(7)
avg, navg = None, 0
net.train()
for step in range(steps):
    idx = torch.randint(0, len(data.y), (64,), generator=g).numpy()
    o = int(rng.integers(0, 513)); x = torch.from_numpy(np.ascontiguousarray(data.x[idx][..., o:o + 512])); y = torch.from_numpy(data.y[idx])
    outs = []
    for xs in torch.chunk(x, K):
        rx = T.received(dict(net.named_parameters()), float(rng.uniform(lo, hi)), g, rng, None, gains)
        outs.append(functional_call(net, rx, (xs,)))
    out = torch.cat(outs)
    loss = torch.nn.functional.cross_entropy(out, y)
    t = torch.from_numpy(data.teacher[idx]); soft = torch.nn.functional.log_softmax(out / 2, dim=1)
    loss = loss + 4 * torch.nn.functional.kl_div(soft, torch.softmax(t / 2, dim=1), reduction="batchmean")
    opt.zero_grad(); loss.backward(); opt.step(); sch.step()
    if step >= swa_from * steps and step % 10 == 0:
        sd = {k: v.detach().clone() for k, v in net.state_dict().items()}
        avg = sd if avg is None else {k: avg[k] * navg / (navg + 1) + sd[k] / (navg + 1) for k in avg}
        navg += 1
net.eval()
report(f"last {steps} lr{lr}", net, gains.db())
net.load_state_dict(avg)
report(f"swa({navg}) {steps} lr{lr}", net, gains.db())
