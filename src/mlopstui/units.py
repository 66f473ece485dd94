"""Small pure formatters shared by models, the doctor, backends and screens."""

from __future__ import annotations

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
_SHORT = ("B", "K", "M", "G", "T")  # Redis's own style (used_memory_human)


def human_bytes(n: float | int | None, *, sep: str = " ", missing: str = "", short: bool = False) -> str:
    """1536 -> '1.5 KiB' (binary units; whole bytes below 1 KiB); short=True -> '1.5K'."""
    if n is None:
        return missing
    units = _SHORT if short else _UNITS
    size = float(n)
    for unit in units[:-1]:
        if size < 1024:
            return f"{int(size)}{sep}{unit}" if unit == "B" else f"{size:.1f}{sep}{unit}"
        size /= 1024
    return f"{size:.1f}{sep}{units[-1]}"


# -- Kubernetes quantities -------------------------------------------------------------------------------
# One parser: the kubernetes client's own (kubernetes.utils.quantity.parse_quantity: k8s.io/apimachinery's
# resource.Quantity grammar, decimal exponents and all suffixes). That module imports only `decimal`, but
# importing it through its package runs kubernetes/__init__ and kubernetes/utils/__init__ (the whole
# client, ~1.5 s): the doctor and the models stay light by loading the file itself when the client is
# not imported yet.
_parse_quantity = None


def _quantity_parser():
    global _parse_quantity
    if _parse_quantity is None:
        import sys

        mod = sys.modules.get("kubernetes.utils.quantity")
        if mod is None:
            import importlib.util
            from pathlib import Path

            spec = importlib.util.find_spec("kubernetes")
            path = Path(spec.origin).parent / "utils" / "quantity.py" if spec and spec.origin else None
            if path is not None and path.exists():
                qspec = importlib.util.spec_from_file_location("mlopstui._k8s_quantity", path)
                mod = importlib.util.module_from_spec(qspec)
                qspec.loader.exec_module(mod)  # type: ignore[union-attr]
            else:  # an unusual layout: the ordinary import
                import kubernetes.utils.quantity as mod  # type: ignore[no-redef]
        _parse_quantity = mod.parse_quantity
    return _parse_quantity


def parse_quantity(q: object):  # -> decimal.Decimal
    """A Kubernetes quantity ("512Mi", "4e9", "100m", 2) as a Decimal; ValueError when it is none."""
    if q is None or isinstance(q, bool) or (isinstance(q, str) and (not q or q != q.strip())):
        raise ValueError(f"{q!r} is not a quantity")
    return _quantity_parser()(q)


def quantity_bytes(q: object) -> int | None:
    """A memory/storage quantity in whole bytes (rounded up, as Quantity.Value()); None if invalid."""
    import math

    try:
        return math.ceil(parse_quantity(q))
    except (ValueError, ArithmeticError):
        return None


def cpu_millis(q: object) -> int | None:
    """A CPU quantity in millicores (rounded up, as Quantity.MilliValue()); None if invalid."""
    import math

    try:
        return math.ceil(parse_quantity(q) * 1000)
    except (ValueError, ArithmeticError):
        return None
