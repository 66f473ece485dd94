"""Progressive canary rollouts: the plan, its state in an annotation, and the gate arithmetic (pure).

A plan is steps of canary percent (e.g. 10,25,50,100), a pause per step (seconds, or manual) and gates on
the canary revision: its error rate, its p95 latency (absolute, and relative to the stable revision's) and
a minimum number of requests before any gate may pass. The rollout's state lives in the InferenceService
annotation ``mlopstui.dev/rollout`` (JSON) so another operator sees the plan and where it is.

Gate arithmetic follows Prometheus: a counter's increase over a window adds the positive deltas and,
when a value drops (the process restarted), counts the new value from zero (promql/functions.go
extrapolatedRate's reset handling); p95 from cumulative ``le`` buckets is interpolated linearly inside
the bucket holding the rank, as ``histogram_quantile`` does (promql/quantile.go bucketQuantile).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mlopstui.errors import Kind, MlopsError

ANNOTATION = "mlopstui.dev/rollout"
PHASES = ("running", "paused", "promoted", "rolled-back", "aborted")
FINAL_PHASES = ("promoted", "rolled-back", "aborted")
MAX_STEPS = 20
MAX_PAUSE_S = 24 * 3600.0
FOLLOW_S = 60.0  # a step's PATCH is followed this long at most until the traffic converges


def measure_bound(pause_s: float | None) -> float:
    """How long a step measures at most: the pause, extended while there are too few requests."""
    pause = pause_s or 0.0
    return max(pause * 3, pause + 30.0)


# -- plan ----------------------------------------------------------------------------------------------
@dataclass
class Gates:
    max_error_rate: float | None = 0.01  # fraction of canary requests answered 5xx / failed
    max_p95_ms: float | None = None  # absolute canary p95
    max_p95_ratio: float | None = None  # canary p95 <= ratio x stable p95
    min_requests: int = 20  # canary requests in the window before a gate may pass


@dataclass
class RolloutPlan:
    steps: list[int]
    pause_s: float | None  # None: manual (each step waits for `--resume`)
    gates: Gates = field(default_factory=Gates)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": list(self.steps), "pause_s": self.pause_s, "gates": asdict(self.gates)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RolloutPlan:
        if not isinstance(d, dict):
            raise MlopsError(Kind.INVALID, "rollout plan is not an object")
        g = d.get("gates") or {}
        if not isinstance(g, dict):
            raise MlopsError(Kind.INVALID, "rollout gates are not an object")
        gates = Gates(max_error_rate=_opt_float(g.get("max_error_rate"), "max_error_rate", 0, 1),
                      max_p95_ms=_opt_float(g.get("max_p95_ms"), "max_p95_ms", 0, 3_600_000),
                      max_p95_ratio=_opt_float(g.get("max_p95_ratio"), "max_p95_ratio", 0, 1000),
                      min_requests=int(_opt_float(g.get("min_requests", 20), "min_requests", 0, 1e9) or 0))
        pause = d.get("pause_s")
        return cls(steps=parse_steps(d.get("steps")),
                   pause_s=None if pause is None else _opt_float(pause, "pause_s", 0, MAX_PAUSE_S), gates=gates)

    def text(self) -> str:
        g = self.gates
        parts = [f"steps {','.join(map(str, self.steps))}",
                 "pause manual" if self.pause_s is None else f"pause {self.pause_s:g}s"]
        if g.max_error_rate is not None:
            parts.append(f"error rate <= {g.max_error_rate * 100:g}%")
        if g.max_p95_ms is not None:
            parts.append(f"p95 <= {g.max_p95_ms:g}ms")
        if g.max_p95_ratio is not None:
            parts.append(f"p95 <= {g.max_p95_ratio:g}x stable")
        parts.append(f"min {g.min_requests} requests")
        return ", ".join(parts)


def _opt_float(v: Any, what: str, low: float, high: float) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        raise MlopsError(Kind.INVALID, f"{what}: not a number: {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise MlopsError(Kind.INVALID, f"{what}: not a number: {v!r}") from None
    if not math.isfinite(f) or f < low or f > high:
        raise MlopsError(Kind.INVALID, f"{what}: {v!r} is outside {low:g}..{high:g}")
    return f


def parse_steps(text: Any) -> list[int]:
    """"10,25,50,100" (or a list) -> [10, 25, 50, 100]: strictly increasing whole percents 1..100 ending at 100."""
    if isinstance(text, str):
        items: list[Any] = [t.strip().rstrip("%") for t in text.split(",")]
    elif isinstance(text, list):
        items = text
    else:
        raise MlopsError(Kind.INVALID, f"steps: expected e.g. 10,25,50,100, not {text!r}")
    steps: list[int] = []
    for t in items:
        s = str(t)
        if isinstance(t, bool) or not s.isdigit() or len(s) > 3:
            raise MlopsError(Kind.INVALID, f"steps: {t!r} is not a whole percent",
                             hint="e.g. --steps 10,25,50,100")
        steps.append(int(s))
    if not steps or len(steps) > MAX_STEPS:
        raise MlopsError(Kind.INVALID, f"steps: give 1..{MAX_STEPS} steps", hint="e.g. --steps 10,25,50,100")
    if any(s < 1 or s > 100 for s in steps):
        raise MlopsError(Kind.INVALID, "steps: each step is 1..100 percent")
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        raise MlopsError(Kind.INVALID, f"steps: must increase ({','.join(map(str, steps))})")
    if steps[-1] != 100:
        raise MlopsError(Kind.INVALID, "steps: the last step must be 100 (the promotion)",
                         hint="e.g. --steps 10,25,50,100")
    return steps


_DUR_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_DUR_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: Any, what: str = "duration", *, high: float = MAX_PAUSE_S) -> float:
    """"60s", "2m", "500ms", "1.5" (seconds) -> seconds."""
    m = _DUR_RE.match(str(text)) if not isinstance(text, bool) else None
    if not m:
        raise MlopsError(Kind.INVALID, f"{what}: {text!r} is not a duration", hint="e.g. 60s, 2m, 500ms")
    value = float(m.group(1)) * _DUR_UNIT[m.group(2)]
    if value > high:
        raise MlopsError(Kind.INVALID, f"{what}: {text!r} is longer than {high:g}s")
    return value


def parse_pause(text: Any) -> float | None:
    if str(text).strip().lower() == "manual":
        return None
    return parse_duration(text, "pause")


def parse_rate(text: Any, what: str = "max error rate") -> float:
    """"1%" -> 0.01; "0.01" -> 0.01 (a fraction); 0..100%."""
    s = str(text).strip()
    pct = s.endswith("%")
    try:
        v = float(s.rstrip("%"))
    except ValueError:
        raise MlopsError(Kind.INVALID, f"{what}: {text!r} is not a rate", hint="e.g. 1% or 0.01") from None
    v = v / 100.0 if pct else v
    if not math.isfinite(v) or v < 0 or v > 1:
        raise MlopsError(Kind.INVALID, f"{what}: {text!r} is outside 0..100%")
    return v


def parse_latency_ms(text: Any, what: str = "max p95") -> float:
    """"200ms" -> 200.0; "0.2s" -> 200.0; a bare number is milliseconds."""
    s = str(text).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", s):
        s += "ms"
    return parse_duration(s, what, high=3600.0) * 1000.0


def parse_ratio(text: Any) -> float:
    s = str(text).strip().rstrip("x")
    return _opt_float(s, "max p95 ratio", 0.0001, 1000) or 0.0


def plan_from(steps: Any, pause: Any, max_error_rate: Any, max_p95: Any = None, max_p95_ratio: Any = None,
              min_requests: Any = 20) -> RolloutPlan:
    """A plan from user values (flags, settings, the TUI's prompt): bad input is MlopsError(invalid)."""
    mr = str(min_requests).strip()
    if not mr.isdigit() or len(mr) > 9:
        raise MlopsError(Kind.INVALID, f"min requests: {min_requests!r} is not a whole number")
    gates = Gates(max_error_rate=None if max_error_rate in (None, "", "none") else parse_rate(max_error_rate),
                  max_p95_ms=None if max_p95 in (None, "") else parse_latency_ms(max_p95),
                  max_p95_ratio=None if max_p95_ratio in (None, "") else parse_ratio(max_p95_ratio),
                  min_requests=int(mr))
    return RolloutPlan(steps=parse_steps(steps), pause_s=parse_pause(pause), gates=gates)


# -- metric arithmetic ---------------------------------------------------------------------------------
_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?\s*$')
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_prometheus_text(text: str, limit: int = 200_000) -> list[tuple[str, dict[str, str], float]]:
    """The Prometheus text exposition format -> (name, labels, value) per sample; comments skipped,
    malformed lines ignored (an untrusted server's answer never raises)."""
    out: list[tuple[str, dict[str, str], float]] = []
    for line in text.splitlines()[:limit]:
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE_RE.match(line)
        if not m:
            continue
        labels: dict[str, str] = {}
        for lm in _LABEL_RE.finditer(m.group(2) or ""):
            labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        out.append((m.group(1), labels, value))
    return out


def counter_increase(values: list[float]) -> float:
    """A counter's increase over successive samples; a drop is a reset: the new value counts from 0."""
    total = 0.0
    for prev, cur in zip(values, values[1:], strict=False):
        total += cur - prev if cur >= prev else cur
    return total


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus histogram_quantile over cumulative (le, count) buckets; None when there are no
    observations or no +Inf bucket (Prometheus answers NaN)."""
    if not buckets or not 0 <= q <= 1:
        return None
    bs = sorted(buckets, key=lambda b: b[0])
    if not math.isinf(bs[-1][0]):
        return None
    # ensureMonotonic: a cumulative count never decreases
    fixed: list[tuple[float, float]] = []
    run = 0.0
    for le, c in bs:
        run = max(run, c)
        fixed.append((le, run))
    total = fixed[-1][1]
    if total <= 0:
        return None
    rank = q * total
    i = next(i for i, (_, c) in enumerate(fixed) if c >= rank)
    if i == len(fixed) - 1:
        return fixed[-2][0] if len(fixed) >= 2 else None  # in +Inf: the highest finite bound
    upper, count = fixed[i]
    if i == 0:
        lower, below = (0.0 if upper > 0 else upper), 0.0
        if upper <= 0:
            return upper
    else:
        lower, below = fixed[i - 1]
    in_bucket = count - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * ((rank - below) / in_bucket)


def bucket_increase(scrapes: list[dict[float, float]]) -> list[tuple[float, float]]:
    """Per-``le`` increase between successive scrapes of one histogram (resets as counters)."""
    les = sorted({le for s in scrapes for le in s})
    return [(le, counter_increase([s.get(le, 0.0) for s in scrapes])) for le in les]


def _le(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


@dataclass
class Scrape:
    """One revision's metrics at one time, reduced to what the gates need."""
    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le (seconds) -> cumulative count


def reduce_scrape(samples: list[tuple[str, dict[str, str], float]], *, counter: str, histogram: str,
                  code_label: str = "code", match: dict[str, str] | None = None) -> Scrape:
    """From parsed samples: total requests and 5xx of ``counter`` (by ``code_label``) and the
    cumulative buckets of ``histogram`` (``<histogram>_bucket``, in seconds), summed over series that
    carry ``match``'s labels."""
    s = Scrape()
    match = match or {}
    for name, labels, value in samples:
        if any(labels.get(k) != v for k, v in match.items()):
            continue
        if name in (counter, counter + "_total"):
            s.requests += value
            if str(labels.get(code_label, "")).startswith("5"):
                s.errors += value
        elif name == histogram + "_bucket":
            le = _le(labels.get("le", ""))
            if le is not None:
                s.buckets[le] = s.buckets.get(le, 0.0) + value
    return s


@dataclass
class Measure:
    """One revision over the window: requests, failed requests, p95 (ms), where it came from."""
    requests: float
    errors: float
    p95_ms: float | None
    source: str

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def to_dict(self) -> dict[str, Any]:
        er = self.error_rate
        return {"requests": round(self.requests, 1), "errors": round(self.errors, 1),
                "error_rate": None if er is None else round(er, 4),
                "p95_ms": None if self.p95_ms is None else round(self.p95_ms, 1), "source": self.source}


def measure_from_scrapes(scrapes: list[Scrape], source: str) -> Measure:
    """The window between the first and the last scrape (counter resets handled)."""
    req = counter_increase([s.requests for s in scrapes])
    err = counter_increase([s.errors for s in scrapes])
    p95 = histogram_quantile(0.95, bucket_increase([s.buckets for s in scrapes]))
    return Measure(req, err, None if p95 is None else p95 * 1000.0, source)


def measure_from_requests(latencies_ms: list[float], failed: int, source: str) -> Measure:
    """From individual requests (synthetic): p95 by nearest rank over the observed latencies."""
    lat = sorted(latencies_ms)
    p95 = lat[max(0, math.ceil(0.95 * len(lat)) - 1)] if lat else None
    return Measure(float(len(lat)), float(failed), p95, source)


# -- gates -----------------------------------------------------------------------------------------
@dataclass
class GateResult:
    gate: str  # min-requests | error-rate | p95 | p95-ratio
    ok: bool | None  # None: cannot tell (no or too few data): the gate does not pass
    measured: float | None
    limit: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate, "ok": self.ok,
                "measured": None if self.measured is None else round(self.measured, 4),
                "limit": self.limit, "text": self.text}


def evaluate(gates: Gates, canary: Measure | None, stable: Measure | None = None) -> tuple[str, list[GateResult]]:
    """("pass" | "fail" | "wait", results). "wait": not enough signal to decide, never a pass."""
    if canary is None:
        return "wait", [GateResult("signal", None, None, 0, "no signal for the canary revision")]
    res: list[GateResult] = []
    enough = canary.requests >= gates.min_requests and canary.requests > 0
    res.append(GateResult("min-requests", True if enough else None, canary.requests, gates.min_requests,
                          f"{canary.requests:g} canary requests (need {gates.min_requests})"))
    if gates.max_error_rate is not None:
        er = canary.error_rate
        if er is None:
            res.append(GateResult("error-rate", None, None, gates.max_error_rate, "no canary requests"))
        else:
            res.append(GateResult("error-rate", er <= gates.max_error_rate, er, gates.max_error_rate,
                                  f"error rate {er * 100:.1f}% (max {gates.max_error_rate * 100:g}%, "
                                  f"{canary.errors:g}/{canary.requests:g})"))
    if gates.max_p95_ms is not None:
        p = canary.p95_ms
        res.append(GateResult("p95", None if p is None else p <= gates.max_p95_ms, p, gates.max_p95_ms,
                              "no latency data" if p is None else f"p95 {p:.0f}ms (max {gates.max_p95_ms:g}ms)"))
    if gates.max_p95_ratio is not None:
        p, sp = canary.p95_ms, stable.p95_ms if stable else None
        if p is None or not sp:
            res.append(GateResult("p95-ratio", None, None, gates.max_p95_ratio, "no stable latency to compare"))
        else:
            r = p / sp
            res.append(GateResult("p95-ratio", r <= gates.max_p95_ratio, r, gates.max_p95_ratio,
                                  f"p95 {p:.0f}ms = {r:.2f}x stable {sp:.0f}ms (max {gates.max_p95_ratio:g}x)"))
    # a failing gate fails even below min-requests only when it is certain: with too few requests a bad
    # rate is noise, so min-requests decides first
    if not enough:
        return "wait", res
    if any(r.ok is False for r in res):
        return "fail", res
    if any(r.ok is None for r in res):
        return "wait", res
    return "pass", res


# -- state in the annotation -------------------------------------------------------------------------
@dataclass
class RolloutState:
    plan: RolloutPlan
    step: int = 0  # index into plan.steps of the step being measured (or next to apply)
    phase: str = "running"
    started: float = 0.0
    step_started: float | None = None
    canary: str | None = None  # revision names when started
    stable: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)  # last gate results
    measured: dict[str, Any] = field(default_factory=dict)  # last measures: canary / stable
    reason: str = ""
    owner: str = ""
    updated: float = 0.0

    def to_annotation(self) -> str:
        d = {"plan": self.plan.to_dict(), "step": self.step, "phase": self.phase, "started": self.started,
             "stepStarted": self.step_started, "canary": self.canary, "stable": self.stable,
             "gates": self.gates, "measured": self.measured, "reason": self.reason[:500],
             "owner": self.owner, "updated": self.updated}
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_annotation(cls, text: str | None) -> RolloutState | None:
        if not text:
            return None
        try:
            d = json.loads(text)
        except ValueError:
            raise MlopsError(Kind.INVALID, f"annotation {ANNOTATION} is not JSON",
                             hint="remove it (kubectl annotate isvc NAME mlopstui.dev/rollout-) to start over") from None
        if not isinstance(d, dict):
            raise MlopsError(Kind.INVALID, f"annotation {ANNOTATION} is not an object")
        plan = RolloutPlan.from_dict(d.get("plan") or {})
        phase = d.get("phase")
        if phase not in PHASES:
            raise MlopsError(Kind.INVALID, f"annotation {ANNOTATION}: unknown phase {phase!r}")
        step = d.get("step", 0)
        if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < len(plan.steps):
            raise MlopsError(Kind.INVALID, f"annotation {ANNOTATION}: step {step!r} is not in the plan")

        def num(k: str) -> float | None:
            v = d.get(k)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        return cls(plan=plan, step=step, phase=phase, started=num("started") or 0.0,
                   step_started=num("stepStarted"), canary=_s(d.get("canary")), stable=_s(d.get("stable")),
                   gates=[g for g in d.get("gates") or [] if isinstance(g, dict)][:10],
                   measured=d.get("measured") if isinstance(d.get("measured"), dict) else {},
                   reason=str(d.get("reason") or "")[:500], owner=str(d.get("owner") or "")[:200],
                   updated=num("updated") or 0.0)

    def effective_phase(self, now: float, grace_s: float = 30.0) -> str:
        """A "running" rollout whose process stopped updating it is paused: a live one writes at every
        step, at the latest after following the status (FOLLOW_S) and measuring (STEP_MEASURE_S)."""
        if self.phase != "running":
            return self.phase
        if now - (self.updated or self.started) > FOLLOW_S + measure_bound(self.plan.pause_s) + grace_s:
            return "paused"
        return "running"

    def summary_text(self, now: float) -> str:
        phase = self.effective_phase(now)
        steps = " ".join(f"[{s}]" if i == self.step and phase not in FINAL_PHASES else str(s)
                         for i, s in enumerate(self.plan.steps))
        line = f"rollout {phase}: steps {steps}"
        if self.reason:
            line += f"; {self.reason}"
        if phase == "paused" and self.phase == "running":
            line += "; the process running it stopped updating it: `mlopstui rollout NAME --resume` continues"
        return line


def _s(v: Any) -> str | None:
    return str(v)[:253] if isinstance(v, str) and v else None


def annotation_patch(state: RolloutState) -> dict[str, Any]:
    return {"metadata": {"annotations": {ANNOTATION: state.to_annotation()}}}

