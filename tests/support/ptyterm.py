"""Run the real TUI in a pseudo-terminal and read what it writes, byte for byte (tests/ui NO_COLOR test,
bench/bench_idle_output.py).

`PtyApp` starts `python -m mlopstui ...` on the slave side of a pty of a given size (Textual's real Linux
driver, as over SSH) and reads the master side in a thread, counting bytes. `Screen` is a minimal
terminal emulator, enough for Textual's output: cursor positioning (CUP), SGR colours and attributes,
erase; each cell keeps its character, foreground, background and attributes, so a test can read the
raw colours of a frame (an SVG screenshot cannot show what NO_COLOR does to the escape codes).
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.cells import get_character_cell_size

CSI = re.compile(rb"\x1b\[([0-9;:?<=>]*)([ -/]*)([@-~])")
OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


@dataclass
class Cell:
    ch: str = " "
    fg: str = "default"
    bg: str = "default"
    attrs: frozenset[str] = frozenset()


ATTR_ON = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 5: "blink", 7: "reverse", 9: "strike"}
ATTR_OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 25: ("blink",), 27: ("reverse",),
            29: ("strike",)}


class Screen:
    """Cells of a width x height terminal, fed with the bytes an application wrote."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.cells = [[Cell() for _ in range(width)] for _ in range(height)]
        self.x = self.y = 0
        self.fg, self.bg, self.attrs = "default", "default", frozenset()
        self._pending = b""

    def feed(self, data: bytes) -> None:
        data = self._pending + data
        self._pending = b""
        i = 0
        text = bytearray()
        while i < len(data):
            b = data[i]
            if b == 0x1B:
                self._put_text(text)
                text.clear()
                m = CSI.match(data, i)
                if m:
                    self._csi(m.group(1).decode(), m.group(3).decode())
                    i = m.end()
                    continue
                m = OSC.match(data, i)
                if m:
                    i = m.end()
                    continue
                if len(data) - i < 64 and (data[i + 1:i + 2] in (b"[", b"]", b"") ):
                    self._pending = data[i:]  # an escape cut across two reads
                    return
                i += 2  # ESC = / ESC > / ESC 7 ...
                continue
            if b == 0x0D:
                self._put_text(text)
                text.clear()
                self.x = 0
            elif b == 0x0A:
                self._put_text(text)
                text.clear()
                self.y = min(self.height - 1, self.y + 1)
            elif b == 0x08:
                self._put_text(text)
                text.clear()
                self.x = max(0, self.x - 1)
            elif b >= 0x20 or b == 0x09:
                text.append(b)
            i += 1
        # keep an incomplete UTF-8 sequence for the next read
        cut = len(text)
        while cut > 0 and (text[cut - 1] & 0xC0) == 0x80:
            cut -= 1
        if cut > 0 and text[cut - 1] >= 0xC0:
            need = 2 if text[cut - 1] < 0xE0 else 3 if text[cut - 1] < 0xF0 else 4
            if len(text) - (cut - 1) < need:
                self._pending = bytes(text[cut - 1:])
                text = text[:cut - 1]
        self._put_text(text)

    def _put_text(self, raw: bytearray) -> None:
        if not raw:
            return
        for ch in raw.decode("utf-8", "replace"):
            w = get_character_cell_size(ch)
            if w == 0:
                continue
            if self.x >= self.width:
                continue
            if 0 <= self.y < self.height:
                self.cells[self.y][self.x] = Cell(ch, self.fg, self.bg, self.attrs)
                if w == 2 and self.x + 1 < self.width:
                    self.cells[self.y][self.x + 1] = Cell("", self.fg, self.bg, self.attrs)
            self.x += w

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?") or params.startswith(">") or params.startswith("<"):
            return  # private modes (alt screen, mouse, sync output, ...)
        nums = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")] if params else []
        if final == "m":
            self._sgr(nums or [0])
        elif final in "Hf":
            self.y = max(0, min(self.height - 1, (nums[0] if nums and nums[0] else 1) - 1))
            self.x = max(0, min(self.width - 1, (nums[1] if len(nums) > 1 and nums[1] else 1) - 1))
        elif final == "G":
            self.x = max(0, min(self.width - 1, (nums[0] if nums and nums[0] else 1) - 1))
        elif final == "d":
            self.y = max(0, min(self.height - 1, (nums[0] if nums and nums[0] else 1) - 1))
        elif final == "C":
            self.x = min(self.width - 1, self.x + (nums[0] if nums and nums[0] else 1))
        elif final == "D":
            self.x = max(0, self.x - (nums[0] if nums and nums[0] else 1))
        elif final == "A":
            self.y = max(0, self.y - (nums[0] if nums and nums[0] else 1))
        elif final == "B":
            self.y = min(self.height - 1, self.y + (nums[0] if nums and nums[0] else 1))
        elif final == "J":
            mode = nums[0] if nums else 0
            rows = range(self.height) if mode in (2, 3) else range(self.y + 1, self.height) if mode == 0 else range(self.y)
            for r in rows:
                self.cells[r] = [Cell(" ", self.fg, self.bg) for _ in range(self.width)]
            if mode == 0:
                self._erase_line(0)
        elif final == "K":
            self._erase_line(nums[0] if nums else 0)

    def _erase_line(self, mode: int) -> None:
        cols = range(self.x, self.width) if mode == 0 else range(self.x + 1) if mode == 1 else range(self.width)
        for c in cols:
            self.cells[self.y][c] = Cell(" ", self.fg, self.bg)

    def _sgr(self, nums: list[int]) -> None:
        i = 0
        while i < len(nums):
            n = nums[i]
            if n == 0:
                self.fg, self.bg, self.attrs = "default", "default", frozenset()
            elif n in ATTR_ON:
                self.attrs = self.attrs | {ATTR_ON[n]}
            elif n in ATTR_OFF:
                self.attrs = self.attrs - set(ATTR_OFF[n])
            elif 30 <= n <= 37 or 90 <= n <= 97:
                self.fg = f"ansi{n - 30 if n < 90 else n - 90 + 8}"
            elif 40 <= n <= 47 or 100 <= n <= 107:
                self.bg = f"ansi{n - 40 if n < 100 else n - 100 + 8}"
            elif n == 39:
                self.fg = "default"
            elif n == 49:
                self.bg = "default"
            elif n in (38, 48) and i + 1 < len(nums):
                if nums[i + 1] == 5 and i + 2 < len(nums):
                    colour = f"ansi{nums[i + 2]}" if nums[i + 2] < 16 else f"256:{nums[i + 2]}"
                    i += 2
                elif nums[i + 1] == 2 and i + 4 < len(nums):
                    colour = "rgb:{}/{}/{}".format(*nums[i + 2:i + 5])
                    i += 4
                else:
                    colour = "default"
                if n == 38:
                    self.fg = colour
                else:
                    self.bg = colour
                i += 1
            i += 1

    def text(self) -> str:
        return "\n".join("".join(c.ch for c in row).rstrip() for row in self.cells)

    def unreadable(self) -> list[tuple[int, int, Cell]]:
        """Cells with a visible character whose foreground equals their background (explicit colours)."""
        return [(y, x, c) for y, row in enumerate(self.cells) for x, c in enumerate(row)
                if c.ch.strip() and c.fg == c.bg and c.fg != "default"]

    def coloured(self) -> list[tuple[int, int, Cell]]:
        """Cells carrying any explicit colour (NO_COLOR: there must be none)."""
        return [(y, x, c) for y, row in enumerate(self.cells) for x, c in enumerate(row)
                if c.fg != "default" or c.bg != "default"]


class PtyApp:
    """The TUI (`python -m mlopstui ARGS`) on a pty of width x height; all it writes feeds `screen`."""

    def __init__(self, args: list[str], *, width: int = 80, height: int = 24, env: dict[str, str] | None = None):
        self.width, self.height = width, height
        self.screen = Screen(width, height)
        self.total = 0
        self._lock = threading.Lock()
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        full_env = dict(os.environ if env is None else env)
        full_env.setdefault("TERM", "xterm-256color")
        full_env.pop("TEXTUAL", None)
        full_env["COLUMNS"], full_env["LINES"] = str(width), str(height)
        self.proc = subprocess.Popen([sys.executable, "-m", "mlopstui", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=full_env, start_new_session=True,
                                     close_fds=True)
        os.close(slave)
        self.master = master
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.total += len(data)
                self.screen.feed(data)

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def wait_for(self, pred: Callable[[Screen], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if pred(self.screen):
                    return True
            if self.proc.poll() is not None:
                raise AssertionError(f"the TUI exited ({self.proc.returncode}):\n{self.screen.text()}")
            time.sleep(0.05)
        raise AssertionError(f"condition not met within {timeout}s; the screen:\n{self.screen.text()}")

    def settle(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until nothing was written for `quiet` seconds (bounded by timeout)."""
        deadline = time.monotonic() + timeout
        last, since = self.total, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if self.total != last:
                last, since = self.total, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        try:
            os.close(self.master)
        except OSError:
            pass
        self._reader.join(timeout=2)
