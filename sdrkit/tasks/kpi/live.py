"""Running the bundled KPI generators (onnxruntime), and the live predictor."""

from __future__ import annotations

import time

import numpy as np

from sdrkit.errors import ConfigError, ModelError
from sdrkit.runtime.predict import Prediction


class KpiGenerators:
    """The card's generators: ``sample(name, segment, n, rng) -> rows (n, F)`` in natural units."""

    def __init__(self, card, threads: int = 1):
        self.card, self.threads = card, threads
        self.models = dict(card.extra.get("models") or {})
        if not self.models:
            raise ModelError(f"{card.path}: the card lists no KPI generators (extra.models); re-run 'sdrkit train kpi'")
        self._sessions: dict = {}
        self._enc: dict = {}

    def names(self) -> list[str]:
        return sorted(self.models)

    def info(self, name: str) -> dict:
        if name not in self.models:
            raise ConfigError(f"no generator {name!r} in {self.card.path}; it has: {', '.join(self.names())}")
        return self.models[name]

    def session(self, name: str):
        if name not in self._sessions:
            from sdrkit.runtime.session import onnx_session

            self.info(name)
            self._sessions[name] = onnx_session(self.card.file(name), self.threads)
        return self._sessions[name]

    def encoding(self, name: str):
        """The :class:`~sdrkit.tasks.kpi.train.Encoding` of generator ``name`` (its data set's tables)."""
        if name not in self._enc:
            from sdrkit.dsp.kpi_sim import Segmenter
            from sdrkit.tasks.kpi.train import Encoding, load_tables

            m = self.info(name)
            self._enc[name] = Encoding(Segmenter.from_description(m["segmenter"]),
                                       load_tables(self.card.file(f"{m['dataset']}_norm")))
        return self._enc[name]

    def sample(self, name: str, segment: int, n: int, rng: np.random.Generator, batch: int = 16384) -> np.ndarray:
        """``n`` rows of 1-based ``segment``, in natural units."""
        m = self.info(name)
        if not 1 <= segment <= m["n_labels"]:
            raise ConfigError(f"segment {segment} is outside 1..{m['n_labels']} for generator {name!r}")
        sess = self.session(name)
        out = []
        for i in range(0, n, batch):
            k = min(batch, n - i)
            feeds = self.feeds(m, np.full(k, segment - 1, np.int64), rng)
            out.append(sess.run(None, {i.name: feeds[i.name] for i in sess.get_inputs()})[0])
        if not out:
            return np.zeros((0, len(m["kinds"])))
        return self.encoding(name).decode_rows(np.concatenate(out), segment - 1)

    @staticmethod
    def feeds(m: dict, labels: np.ndarray, rng: np.random.Generator) -> dict:
        k = len(labels)
        u = rng.random((k, m["n_gumbel"]), dtype=np.float32).clip(1e-9, 1 - 1e-9)
        return {"z": rng.standard_normal((k, m["latent"]), dtype=np.float32), "label": labels,
                "gumbel": (-np.log(-np.log(u))).astype(np.float32)}


class KpiPredictor:
    """Live: one generated KPI row of the card's live segment per frame (``outputs["samples"]``).

    The frames only clock the generator (their content is not used): a pipeline gets a stream of
    rare-event channel draws aligned with its frames. ``stats["tail"]`` counts rows in the last segment.
    """

    def __init__(self, card, threads: int = 1, seed: int = 0):
        self.card = card
        self.classes = None
        self.gens = KpiGenerators(card, threads)
        self.name = str(card.thresholds.get("live_model") or next(iter(self.gens.names())))
        self.segment = int(card.thresholds.get("live_segment", 1))
        self.note = f"generating {self.name} rows of segment {self.segment} (frames are only a clock)"
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        self.rng = np.random.default_rng([self.seed, 18])

    def predict(self, frames: np.ndarray) -> Prediction:
        t0 = time.perf_counter()
        n = len(frames)
        rows = self.gens.sample(self.name, self.segment, n, self.rng).astype(np.float32)
        m = self.gens.info(self.name)
        from sdrkit.dsp.kpi_sim import Segmenter

        seg = Segmenter.from_description(m["segmenter"])
        tail = int(seg.labels(rows.astype(np.float64))[:, -1].sum()) if n else 0
        return Prediction(n=n, outputs={"samples": rows}, stats={"tail": tail}, seconds=time.perf_counter() - t0)
