import numpy as np, sys
from sdrkit.dsp.framing import to_model_input
from sdrkit.tasks.aoa import compress as C
from sdrkit.tasks.aoa.data import read_split, split_path
val = read_split(split_path("data/aoa", "val")); X = to_model_input(val.x)
hold = slice(0, 768); hi = val.snr_db[hold] >= 10
def mae(path):
    p = C.ort_angles(path, X[hold]); m = hi
    return np.array([np.mean(np.abs(p[m, 0] - val.az[hold][m])), np.mean(np.abs(p[m, 1] - val.el[hold][m]))])
for tag in sys.argv[1:]:
    f = mae(f"models/aoa/{tag}.onnx")
    for pc in [99.9, 99.99, 99.999, 100.0]:
        C.CALIB_PERCENTILE = pc
        q = C.quantize_int8(f"models/aoa/{tag}.onnx", f"/tmp/{tag}_q{pc}.onnx", X[-256:])
        d = mae(q) - f
        print(tag, pc, "float", f.round(3), "int8 delta", d.round(3), "worse", round(float(d.max()), 3), flush=True)
