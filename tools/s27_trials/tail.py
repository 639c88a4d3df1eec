import json, numpy as np, torch
torch.set_num_threads(1)
from sdrkit.tasks.airnet import train as T
from sdrkit.tasks.airnet.evaluate import Scorer
from sdrkit.dsp import weights_link as wl
from sdrkit.nn.airnet import AirStudent
card = json.load(open("models/airnet/card.json")); power = card["extra"]["delivery"]["power_db"]; kw = card["architecture"]["kwargs"]
net = AirStudent(11, kw["widths"], kw["hidden"]); net.load_state_dict(torch.load("models/airnet/student.pt")); net.eval()
x, y, _ = T.load_frames("data/amc", "val", 2000, 0.0, 1)
sc = Scorer(x, y); a0 = sc(net)
p = T.params_np(net)
full = [wl.deliver_math(p, 10.0, np.random.default_rng(300 + k), power=power) for k in range(40)]
accs = np.array([sc(net, r) for r in full])
print("noiseless", a0, "all noisy mean", accs.mean().round(4), "worst5", np.sort(accs)[:5].round(3))
for name in []:
    a = np.array([sc(net, {**p, name: r[name]}) for r in full])
    print(f"{name:16s} n={p[name].size:6d} power {power.get(name,0):+.2f} dB  loss mean {100*(a0-a.mean()):.2f}  worst {100*(a0-a.min()):.2f} pts")
print("--- power tweaks (val, 40 deliveries)")
def run(pw, tag):
    a = np.array([sc(net, wl.deliver_math(p, 10.0, np.random.default_rng(300 + k), power=pw)) for k in range(40)])
    print(f"{tag:30s} mean {a.mean():.4f} loss {100*(a0-a.mean()):.2f} sem {100*a.std(ddof=1)/np.sqrt(40):.2f} worst {a.min():.3f}", flush=True)
for d2 in [3, 6]:
    run({**power, "fc2.weight": power["fc2.weight"] + d2}, f"fc2 +{d2}")
for d1 in [1, 2]:
    run({**power, "fc1.weight": power["fc1.weight"] + d1}, f"fc1 +{d1}")
run({**power, "fc1.weight": power["fc1.weight"] + 1, "fc2.weight": power["fc2.weight"] + 3}, "fc1+1 fc2+3")
