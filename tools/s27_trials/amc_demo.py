import numpy as np, onnx, tempfile
from sdrkit.capture import open_recording
from sdrkit.runtime import load_card
from sdrkit.runtime.session import onnx_session
from sdrkit.tasks.airnet.deliver import prepare, replace_tensors
from sdrkit.dsp import weights_link as wl
from sdrkit.dsp.framing import to_model_input
with open_recording("captures/demo_mixed.sigmf-meta") as rec:
    labs = [(s, c) for s, c, _, f in rec.labels()]
    data = rec.read()
cls = load_card("models/amc/card.json").classes
starts = []; ys = []
with open_recording("captures/demo_mixed.sigmf-meta") as rec:
    for s, c, lab, f in rec.labels():
        for k in range(c // 1024):
            starts.append(s + 1024 * k); ys.append(cls.index(lab))
x = to_model_input(np.stack([data[st:st + 1024] for st in starts])); y = np.array(ys)
def acc(path):
    s = onnx_session(path, 1)
    out = np.concatenate([s.run(None, {"x": x[i:i+256]})[0] for i in range(0, len(x), 256)])
    return float((out.argmax(1) == y).mean())
print(len(y), "orig", acc("models/amc/full.onnx"), "received", acc("out/exp/amc40/full.onnx"))
card = load_card("models/amc/card.json"); models, tensors, _ = prepare(card)
m = models["full"]; full = {k.split("/",1)[1]: v for k, v in tensors.items() if k.startswith("full/")}
for snr in [40, 50, 60]:
    mm = onnx.ModelProto(); mm.CopyFrom(m); replace_tensors(mm, wl.deliver_math(full, snr, np.random.default_rng(0)))
    f = tempfile.mktemp(suffix=".onnx"); onnx.save(mm, f); print("math", snr, acc(f))
