"""Fuzzing the scenario loader: thousands of broken variants of every shipped scenario, each of which
must load as a valid Scenario or fail with a one-line ScenarioError naming the file (and the field,
when the problem is in one), quickly, and never with another exception.

Cases are generated deterministically (fixed seeds) by kind: truncation, character mutations,
unicode and invalid bytes, a wrong type at every field of the resolved scenario, deep nesting, huge
numbers, alias bombs, tags, duplicate keys and empty or binary files. A sample of them also goes
through the real command line (``python -m loyaltysim validate`` and ``run``) as subprocesses.

``LOYALTYSIM_FUZZ_CASES=N`` multiplies the cases of every kind by N (and tries every replacement
value at every field); ``LOYALTYSIM_FUZZ_CLI=N`` also runs N files one by one through ``validate``
and ``run`` as separate processes.
"""

from __future__ import annotations

import copy
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from tiny_runs import SCENARIOS
from typer.testing import CliRunner

from loyaltysim.cli import app
from loyaltysim.errors import ScenarioError
from loyaltysim.scenario.loading import load_scenario, scenario_data
from loyaltysim.scenario.models import Scenario

SCALE = max(1, int(os.environ.get("LOYALTYSIM_FUZZ_CASES", "1") or 1))
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
CLI_EACH = int(os.environ.get("LOYALTYSIM_FUZZ_CLI", "0") or 0)
TIME_LIMIT = 5.0
"""Seconds a single case may take in-process (a loaded CI machine; a normal case takes milliseconds)."""
FILES = sorted(SCENARIOS.glob("*.yaml"))
YAML_CHARS = list(":-[]{}&*!%|>#'\",?@`\t\n ") + ["\x00", "\r", "\\", "<<", "---", "...", "~"]
UNICODE = ["\u202e", "\u200f", "\u200b", "\ufeff", "\u2028", "\u0085", "😀", "👨‍👩‍👧", "é", "中", "\ud7ff",
           "\U0010ffff", "\x7f", "\x1b[31m"]
BAD_BYTES = [b"\xff", b"\xfe\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80", b"\xf8\x88\x80\x80\x80"]
WRONG = [
    "text", ["a", 1], {"a": 1}, None, True, False, -1, -0.5, 0, 0.0, float("nan"), float("inf"), float("-inf"),
    10 ** 100, 1e300, "x" * 100_000, [], {}, [[[]]], "1e400", "0x1F", "2001-01-01",
]
"""Replacement values of other types and extremes; each field gets one in CI, every one when thorough."""


class Hang(Exception):
    """A case took longer than TIME_LIMIT."""


def _alarm(signum, frame):
    raise Hang


# ---------------------------------------------------------------- the cases

def texts() -> list[tuple[Path, str]]:
    return [(f, f.read_text(encoding="utf-8")) for f in FILES]


def _mutate_chars(rng: random.Random, text: str, op: str) -> str:
    chars = list(text)
    for _ in range(rng.choice([1, 1, 2, 5])):
        i = rng.randrange(len(chars) + 1)
        if op == "delete" and chars:
            del chars[i % len(chars): i % len(chars) + rng.choice([1, 1, 3, 20])]
        elif op == "insert":
            chars.insert(i, rng.choice(YAML_CHARS) * rng.choice([1, 1, 2, 7]))
        elif op == "swap" and len(chars) > 1:
            j = rng.randrange(len(chars)) if rng.random() < 0.5 else min(len(chars) - 1, i % len(chars) + 1)
            i %= len(chars)
            chars[i], chars[j] = chars[j], chars[i]
        elif op == "replace" and chars:
            chars[i % len(chars)] = rng.choice(YAML_CHARS + UNICODE)
        elif op == "unicode":
            chars.insert(i, rng.choice(UNICODE) * rng.choice([1, 1, 3]))
    return "".join(chars)


def _paths(data: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every path in the data: each mapping, list and leaf (not the root)."""
    if path:
        yield path
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, path + (i,))


def _with(original: dict, resolved: dict, path: tuple, value: Any) -> dict:
    """The file's own data with ``value`` at ``path`` (taking what the file leaves out from the
    resolved scenario), so the mutated file stays as small as the original."""
    out = copy.deepcopy(original)
    here, full = out, resolved
    for i, part in enumerate(path):
        full = full[part]
        last = i == len(path) - 1
        present = (part in here) if isinstance(here, dict) else part < len(here)
        if last:
            here[part] = value
        elif not present:
            here[part] = copy.deepcopy(full)
            here = here[part]
        else:
            here = here[part]
    return out


def _nest(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "1" + "]" * depth
    if kind == "flow_map":
        return "{a: " * depth + "1" + "}" * depth
    if kind == "open_list":
        return "[" * depth
    if kind == "open_map":
        return "{" * depth
    return "\n".join("  " * i + f"k{i}:" for i in range(depth)) + " 1"  # block mappings


def _laughs(width: int, depth: int) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for d in range(1, depth):
        lines.append(f"l{d}: &l{d} [" + ", ".join([f"*l{d - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def cases(scale: int = SCALE) -> Iterator[tuple[str, str, str | bytes, tuple | None]]:
    """(kind, label, file content, the field the mutation is in or None)."""
    rng = random.Random(20240607)
    originals = texts()
    for f, text in originals:
        for _ in range(25 * scale):
            raw = text.encode()
            cut = rng.randrange(len(raw))
            yield "truncate", f"{f.stem}@{cut}", raw[:cut], None
        for op in ("delete", "insert", "swap", "replace", "unicode"):
            for _ in range(20 * scale):
                yield op, f"{f.stem}:{op}", _mutate_chars(rng, text, op), None
        for _ in range(12 * scale):
            raw = bytearray(text.encode())
            for _ in range(rng.choice([1, 2, 4])):
                i = rng.randrange(len(raw) + 1)
                raw[i:i] = rng.choice(BAD_BYTES)
            yield "bytes", f"{f.stem}:bytes", bytes(raw), None

    # a wrong type (or an extreme value) at every mapping, list and leaf of each resolved scenario
    for f, text in originals:
        original = yaml.safe_load(text)
        resolved = scenario_data(load_scenario(f))
        seen: set[tuple] = set()
        for n, path in enumerate(_paths(resolved)):
            shape = tuple("*" if isinstance(p, int) else p for p in path)
            if scale == 1 and shape in seen:  # CI: each field once per scenario (the first segment's, ...)
                continue
            seen.add(shape)
            values = WRONG if scale > 1 else [WRONG[(n + len(f.stem)) % len(WRONG)]]
            for value in values:
                data = _with(original, resolved, path, value)
                yield "wrong_type", f"{f.stem}:{'.'.join(map(str, path))}", yaml.dump(data, Dumper=DUMPER, sort_keys=False), path

    base = originals[0][1]
    for depth in (10, 100, 101, 1000, 100_000):
        for shape in ("list", "flow_map", "open_list", "open_map", "block"):
            if shape == "block" and depth > 5000:
                continue
            nested = _nest(depth, shape)
            yield "deep", f"{shape}x{depth}", nested, None
            yield "deep", f"customers={shape}x{depth}", base.replace("customers: 20000", "customers: " +
                                                                   nested.replace("\n", "\n  ")), None

    numbers = ["1e400", "-1e400", ".inf", "-.inf", ".nan", str(10 ** 100), "9" * 5000, "-" + "9" * 5000,
               "0x" + "f" * 200, "1" + "0" * 4300, "0.000000000000000000000000000001", "1_000_000", "1:30:00",
               "0o777", "+12", "1e-400", "-0"]
    for f, text in originals:
        lines = text.splitlines()
        numeric = [i for i, line in enumerate(lines) if rng.random() < 1.0 and _number_at_end(line)]
        for _ in range(6 * scale):
            i = rng.choice(numeric)
            head = lines[i].rsplit(" ", 1)[0]
            new = lines[:i] + [f"{head} {rng.choice(numbers)}"] + lines[i + 1:]
            yield "huge_number", f"{f.stem}:{i + 1}", "\n".join(new) + "\n", None

    for width, depth in ((9, 9), (10, 10), (2, 30), (100, 4), (1000, 2), (3, 3)):
        yield "aliases", f"laughs {width}x{depth}", _laughs(width, depth) + base, None
        yield "aliases", f"laughs in a field {width}x{depth}", base + "description: " + "\n".join(
            "  " + line for line in ["", *_laughs(width, depth).splitlines()]) + "\n", None
    yield "aliases", "recursive list", base + "changes: &c [*c]\n", None
    yield "aliases", "recursive map", base + "verdict: &v {period_days: *v}\n", None
    yield "aliases", "undefined alias", base + "verdict: *nothere\n", None
    yield "aliases", "alias as key", base.replace("seed: 1995", "&k seed: 1995\n*k : 7"), None
    yield "aliases", "merge key", base.replace("seed: 1995", "base: &b {seed: 3}\n<<: *b"), None
    yield "aliases", "merge overridden", base + "verdict:\n  <<: {period_days: 7}\n  period_days: 14\n", None
    yield "aliases", "merge of a scalar", base + "verdict:\n  <<: 5\n", None
    yield "aliases", "anchors reused", base + "competition: &c {reward_rate: 0.01}\nbehaviour: {habit_weight: 1}\n", None

    tags = ["!!python/object:os.system {}", "!!python/object/apply:os.system ['true']", "!!python/name:os.system",
            "!!python/tuple [1, 2]", "!!binary aGVsbG8=", "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1]",
            "!!timestamp 2001-12-14", "!!str 5", "!!int '5'", "!!float '1e3'", "!!bool yes", "!!null ''",
            "!foo 1", "!<tag:example.com,2000:x> 1", "!!map {}", "!!seq []", "!!int 'many'", "!!float 'nan'",
            "!!float many", "!!float", "!!float 1:x", "!!bool maybe", "!!timestamp nope", "!!timestamp 2001-13-45",
            "!!map [1]", "!!map [[1]]", "!!seq {a: 1}", "!!omap [1]", "!!set [1]", "!!int 0b102", "!!binary '%%%'",
            "!!str [1]", "!!merge 1", "!!value 1"]
    for f, text in originals:
        lines = text.splitlines()
        keyed = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")]
        for tag in tags:
            i = rng.choice(keyed)
            head = lines[i].split(": ", 1)[0]
            new = lines[:i] + [f"{head}: {tag}"] + lines[i + 1:]
            yield "tags", f"{f.stem}:{i + 1} {tag}", "\n".join(new) + "\n", None
    yield "tags", "%TAG directive", "%TAG !e! tag:example.com,2000:\n---\n" + base, None
    yield "tags", "%YAML 1.1", "%YAML 1.1\n---\n" + base, None
    yield "tags", "%YAML 2.0", "%YAML 2.0\n---\n" + base, None
    yield "tags", "unknown directive", "%FOO bar\n---\n" + base, None

    for f, text in originals:
        lines = text.splitlines()
        keyed = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith(("#", "-"))]
        for _ in range(4 * scale):
            i = rng.choice(keyed)
            yield "duplicate_key", f"{f.stem}:{i + 1}", "\n".join(lines[:i + 1] + [lines[i]] + lines[i + 1:]) + "\n", None

    for label, content in [("empty", b""), ("newline", b"\n"), ("spaces", b"   \n\t\n"), ("comment", b"# nothing\n"),
                           ("bom", b"\xef\xbb\xbf"), ("bom and scenario", b"\xef\xbb\xbf" + base.encode()),
                           ("null", b"~\n"), ("document marker", b"---\n"), ("end marker", b"...\n"),
                           ("two documents", (base + "---\n" + base).encode()), ("a list", b"- 1\n- 2\n"),
                           ("a number", b"42\n"), ("a string", b"hello\n"), ("utf-16", base.encode("utf-16")),
                           ("utf-32", base.encode("utf-32")), ("latin-1", "name: caf\xe9\n".encode("latin-1")),
                           ("crlf", base.replace("\n", "\r\n").encode()), ("cr only", base.replace("\n", "\r").encode()),
                           ("NUL only", b"\x00" * 100)]:
        yield "empty_or_odd", label, content, None
    for i in range(20 * scale):
        garbage = random.Random(i).randbytes(random.Random(i).choice([1, 16, 512, 8192]))
        yield "binary", f"garbage {i}", garbage, None
        yield "binary", f"garbage after a scenario {i}", base.encode() + garbage, None


def _number_at_end(line: str) -> bool:
    tail = line.rsplit(" ", 1)[-1].rstrip("}],")
    try:
        float(tail)
    except ValueError:
        return False
    return ": " in line and "{" not in line and "[" not in line


# ---------------------------------------------------------------- the checks

def check_case(path: Path, field: tuple | None) -> str:
    """Load ``path``; return 'valid' or 'error', or fail the test with what went wrong."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    start = time.perf_counter()
    try:
        scenario = load_scenario(path)
    except ScenarioError as err:
        signal.setitimer(signal.ITIMER_REAL, 0)
        message = str(err)
        assert len(message.splitlines()) == 1 and message == message.strip(), repr(message)
        assert message.startswith(str(path)) and err.source == str(path), message
        if err.line is not None:
            lines = path.read_bytes().decode("utf-8", errors="replace").splitlines()  # \r, \x85 break lines too
            assert 1 <= err.line <= len(lines) + 1, message
        if field is not None:  # a mutated field: the message names it (or the mapping or list holding it)
            assert err.field and f"{err.field}:" in message, message
            named = [err.field]  # or, when a mid-run change no longer fits, the field the change sets
            named += re.findall(r"change on day \d+: ([^ :']+):", message)
            mutated = [str(p) for p in field]
            assert any(_overlap(n.split("."), mutated) for n in named), f"{'.'.join(mutated)} not named in {message!r}"
        assert len(message) < 2000, message[:300]
        return "error"
    except Hang:
        pytest.fail(f"{path.name}: loading took more than {TIME_LIMIT} s")
    except BaseException as err:  # noqa: BLE001 - any other exception is the bug this test looks for
        signal.setitimer(signal.ITIMER_REAL, 0)
        pytest.fail(f"{path.name}: {type(err).__name__}: {str(err)[:300]}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert isinstance(scenario, Scenario)
    assert time.perf_counter() - start < TIME_LIMIT
    for path_, value in _leaves(scenario_data(scenario)):  # a valid scenario holds only finite numbers
        assert not isinstance(value, float) or math.isfinite(value), f"{path.name}: {path_} is {value}"
    return "valid"


def _overlap(a: list[str], b: list[str]) -> bool:
    """One path lies inside the other (or they are the same)."""
    n = min(len(a), len(b))
    return n >= 1 and a[:n] == b[:n]


def _leaves(data: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _leaves(v, path + (i,))
    else:
        yield path, data


def _write(folder: Path, n: int, content: str | bytes) -> Path:
    path = folder / f"case{n:05d}.yaml"
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8", errors="surrogatepass"))
    else:
        path.write_bytes(content)
    return path


def test_fuzzed_scenarios_load_or_fail_with_one_line(tmp_path, sample):
    counts: Counter = Counter()
    outcomes: Counter = Counter()
    start = time.perf_counter()
    for n, (kind, label, content, field) in enumerate(cases()):
        path = _write(tmp_path, n, content)
        outcome = check_case(path, field)
        counts[kind] += 1
        outcomes[outcome] += 1
        sample.offer(kind, outcome, content, n)
        path.unlink()
    total = sum(counts.values())
    print(f"\nfuzz: {total} cases in {time.perf_counter() - start:.1f} s "
          f"({outcomes['valid']} valid, {outcomes['error']} one-line errors); by kind: "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    assert total >= 2500 * SCALE
    assert set(counts) == set(KINDS) and min(counts.values()) >= 10
    assert outcomes["error"] > outcomes["valid"] > 0


KINDS = ("truncate", "delete", "insert", "swap", "replace", "unicode", "bytes", "wrong_type", "deep", "huge_number",
         "aliases", "tags", "duplicate_key", "empty_or_odd", "binary")


# ---------------------------------------------------------------- the real command line

class Sample:
    """A few cases of every kind (errors and, where there are any, valid ones) for the command line."""

    def __init__(self, per_kind: int = 2) -> None:
        self.per_kind = per_kind
        self.chosen: dict[tuple[str, str], list] = {}

    def offer(self, kind: str, outcome: str, content, n: int) -> None:
        bucket = self.chosen.setdefault((kind, outcome), [])
        limit = self.per_kind if outcome == "error" else 1
        if len(bucket) < limit and (not bucket or n % 5 == 0):
            bucket.append((n, content))

    def items(self) -> list[tuple[str, str, int, Any]]:
        return [(kind, outcome, n, content) for (kind, outcome), b in self.chosen.items() for n, content in b]


_SAMPLE = Sample(per_kind=2 * SCALE)


@pytest.fixture
def sample():
    return _SAMPLE


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "loyaltysim", *args], capture_output=True, text=True,
                          timeout=timeout, errors="replace")


def test_a_sample_through_the_command_line(tmp_path):
    """The loader test above picks the sample; validate all of it in one process, run each in-process
    through the CLI, and a few in processes of their own."""
    if not _SAMPLE.items():  # run on its own: pick the same sample
        for n, (kind, _, content, field) in enumerate(cases()):
            path = _write(tmp_path, n, content)
            _SAMPLE.offer(kind, check_case(path, field), content, n)
            path.unlink()
    items = _SAMPLE.items()
    assert {kind for kind, *_ in items} == set(KINDS)
    files = {n: _write(tmp_path, n, content) for _, _, n, content in items}
    outcome = {n: o for _, o, n, _ in items}

    done = _cli("validate", *[str(f) for f in files.values()])
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr[-2000:]
    assert done.returncode == (2 if "error" in outcome.values() else 0), done.stderr[-2000:]
    errors = done.stderr.splitlines()
    oks = done.stdout.splitlines()
    assert all(line.startswith("error: ") for line in errors), errors
    for n, f in files.items():
        if outcome[n] == "valid":
            assert f"{f}: ok" in oks
        else:
            assert len([e for e in errors if e.startswith(f"error: {f}")]) == 1, (f, errors)
    assert len(errors) + len(oks) == len(files)

    runner = CliRunner()
    valid = [n for n in files if outcome[n] == "valid"]
    for n, f in files.items():
        if outcome[n] == "valid" and n not in valid[:1 + CLI_EACH]:
            continue  # a valid file runs a whole (tiny) simulation with plots and report: one is enough in CI
        res = runner.invoke(app, ["run", str(f), "--days", "1", "--customers", "10", "--replications", "1",
                                  "--executor", "serial", "--quiet", "--out", str(tmp_path / f"out{n}")])
        lines = res.stderr.strip().splitlines()
        assert res.exit_code == (0 if outcome[n] == "valid" else 2), (f, res.output, res.exception)
        if outcome[n] == "error":
            assert len(lines) == 1 and lines[0].startswith(f"error: {f}"), res.stderr
        assert "Traceback" not in res.output

    # In processes of their own: a valid file in CI (errors went through validate above in a process of
    # their own); with LOYALTYSIM_FUZZ_CLI=N, N more files of each outcome through validate and run.
    errors_first = sorted(files, key=lambda n: (outcome[n] != "error", n))
    valid_first = sorted(files, key=lambda n: (outcome[n] != "valid", n))
    own = list(dict.fromkeys(valid_first[:1 + CLI_EACH] + errors_first[:CLI_EACH]))
    for n in own:
        f = files[n]
        for args in (["validate", str(f)],
                     ["run", str(f), "--days", "1", "--customers", "10", "--replications", "1", "--quiet",
                      "--out", str(tmp_path / f"own{n}")]):
            if CLI_EACH == 0 and args[0] == "validate":
                continue  # validate ran above in a process of its own, over the whole sample
            done = _cli(*args)
            assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
            if outcome[n] == "valid":
                assert done.returncode == 0, done.stderr
            else:
                lines = done.stderr.strip().splitlines()
                assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    print(f"\nfuzz through the CLI: {len(files)} files ({len(valid)} valid) in one validate process, "
          f"{len(files) - len(valid)} errors and {min(len(valid), 1 + CLI_EACH)} valid through run in-process, "
          f"{len(own)} through run in processes of their own")
