import json, numpy as np, torch
torch.set_num_threads(1)
from sdrkit.tasks.airnet import train as T
from sdrkit.tasks.airnet.evaluate import Scorer
from sdrkit.dsp import weights_link as wl
from sdrkit.dsp import spiral
lad = torch.load("models/airnet/ladder.pt", weights_only=False)
print(lad.keys() if isinstance(lad, dict) else type(lad))
ladder = lad["ladder"]
x, y, _ = T.load_frames("data/amc", "val", 2000, 0.0, 1)
sc = Scorer(x, y)
t = spiral.turns_for_snr(10.0)
for i, e in enumerate(ladder):
    net = T.build(e); p = T.params_np(net); pw = e.get("power_db")
    specs = wl.specs_of(p)
    q, sc8 = wl.quantize(p, 8); a8 = sc(net, wl.dequantize(q, sc8))
    res = {"noiseless": sc(net), "8bit": a8}
    for tag, ex in [("plain", None), ("sk_all", {n: t for n in p}), ("sk_nofc1", {n: t for n in p if n != "fc1.weight"})]:
        accs = [sc(net, wl.deliver_math(p, 10.0, np.random.default_rng(200 + k), ex, power=pw)) for k in range(12)]
        res[tag] = (round(float(np.mean(accs)), 4), round(float(np.std(accs) / np.sqrt(12)), 4), wl.analog_symbols(specs, ex))
    print(i, e["widths"], res, flush=True)
