"""``make run``: run every lesson in course order, then build the gallery ``outputs/index.html``.

The order comes from each tier package's ``LESSONS`` list (``01_beginner/__init__.py`` …); a lesson file
that is not listed yet runs after the listed ones, alphabetically, so a new lesson joins without any
change here. Each lesson runs as its own process with no arguments — exactly what a student types — and
the gallery reads the ``manifest.json`` each one leaves beside its figures (see :mod:`attnviz.outputs`).

Fast and still isolated: the runner imports the heavy libraries (torch, transformers' model code,
matplotlib, pandas, scipy, networkx, plotly) and loads the default models *once*, then forks one child
per lesson (two at a time). A child starts with all of that already in memory, shared copy-on-write,
and runs the script as ``__main__``; whatever it changes — a model it randomises, a global it sets —
dies with it. Where ``fork`` is missing (Windows), or with ``--mode subprocess``, each lesson is a fresh
interpreter instead.

    python -m attnviz.course              # run everything, build the gallery
    python -m attnviz.course --only 01_beginner/attention_basics
    python -m attnviz.course --gallery-only
    ATTNVIZ_CPROFILE=/tmp/prof python -m attnviz.course --only attention_entropy   # cProfile per lesson
"""

from __future__ import annotations

import html
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attnviz import OUTPUTS_DIR, REPO_ROOT
from attnviz.cli import OneLineParser
from attnviz.outputs import MANIFEST

TIERS = [("01_beginner", "beginner", "Beginner"), ("02_intermediate", "intermediate", "Intermediate"),
         ("03_advanced", "advanced", "Advanced")]


def lesson_files(tier_dir: str, package: str) -> list[Path]:
    """The tier's lesson scripts in course order."""
    folder = REPO_ROOT / tier_dir
    present = {p.stem: p for p in folder.glob("*.py") if not p.name.startswith("_")}
    order = list(getattr(importlib.import_module(package), "LESSONS", []))
    listed = [present[name] for name in order if name in present]
    return listed + sorted(p for name, p in present.items() if name not in order)


def _run_one(path: Path, timeout: float) -> tuple[str, str, float, dict]:
    """One lesson as a fresh interpreter: ``(status, detail, seconds, {"cpu": seconds})``."""
    # two lessons run at once on two cores: one thread each, or their BLAS threads fight over the cores
    env = dict(os.environ, **LESSON_ENV)
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, str(path)], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=err, text=True)
        done, wait_status, rusage = 0, 0, None
        while not done:  # wait4, not wait: the child's own CPU time comes with it
            done, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if not done and time.perf_counter() - start > timeout:
                proc.kill()
                done, wait_status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return f"timed out after {timeout:.0f} s", "", time.perf_counter() - start, _usage(rusage, None)
            if not done:
                time.sleep(0.05)
        proc.returncode = code = os.waitstatus_to_exitcode(wait_status)
        err.seek(0)
        lines = err.read().strip().splitlines()
    status = "ok" if code == 0 else f"failed (exit {code})"
    return status, (lines[-1] if code and lines else ""), time.perf_counter() - start, _usage(rusage, None)


LESSON_ENV = {"HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
              "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
# imported once by the runner before it forks; a library that is missing is simply not preloaded
HEAVY_MODULES = ("numpy", "torch", "transformers", "transformers.models.bert.modeling_bert",
                 "transformers.models.gpt2.modeling_gpt2", "transformers.models.bart.modeling_bart",
                 "transformers.models.vit.modeling_vit", "matplotlib.pyplot", "pandas", "scipy.sparse.csgraph",
                 "scipy.stats", "networkx", "plotly.graph_objects", "plotly.offline", "PIL.Image", "captum.attr")


def prepare_runner() -> list[str]:
    """Import the heavy libraries and load the default models once, in the runner, before forking.

    One thread per library (two lessons run at once on two cores, and a fork must not inherit a running
    thread pool). The loading runs with the garbage collector paused and leaves its objects frozen
    (:func:`frozen_for_fork`). Returns the names of the preloaded models.
    """
    os.environ.update(LESSON_ENV)

    def load() -> list[str]:
        for module in HEAVY_MODULES:
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 - optional: the lesson that needs it will say what is missing
                pass
        import torch

        torch.set_num_threads(1)
        try:  # the flow solver's machine code (numba's cache, or a compile): loaded once, shared by the forks
            from attnviz.maxflow import warm_up

            warm_up()
        except Exception:  # noqa: BLE001 - optional like the imports: lesson 3.1 will say what is missing
            pass
        from attnviz.models import preload_defaults

        return preload_defaults()

    return frozen_for_fork(load)


def frozen_for_fork(load):
    """Run ``load()`` with the garbage collector paused, then freeze every object it left (``gc.freeze``).

    The libraries a runner imports are objects that live as long as it does. A full collection walks every
    such object — while importing, again and again as they pile up; in a forked lesson, once more, writing
    to each one and so copying every memory page it shares with the runner. Frozen objects are never
    walked (Python's documentation recommends exactly this before ``fork``); the collector is on again for
    what comes after. Returns what ``load`` returns.
    """
    import gc

    gc.disable()
    try:
        return load()
    finally:
        gc.freeze()
        gc.enable()


def _fork_lesson(path: Path, log: Path, profile: Path | None = None) -> int:
    """Start one lesson in a forked child; returns its pid. The child runs the script as ``__main__``.

    With ``profile`` (a file name), the child times its ``savefig`` calls and its model loading and
    writes them there as JSON when it ends (see :func:`_profiled`)."""
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the child: the script's own argv, output to the log, the usual warnings filter
        import runpy
        import warnings

        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.chdir(REPO_ROOT)
        sys.argv = [os.path.relpath(path, REPO_ROOT) if REPO_ROOT in path.parents else str(path)]
        warnings.simplefilter("ignore")
        timers = _profiled() if profile else None
        profiler = None
        if os.environ.get("ATTNVIZ_CPROFILE"):  # a folder: where each lesson's cProfile statistics go
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        try:
            runpy.run_path(str(path), run_name="__main__")
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        finally:
            if timers is not None:
                Path(profile).write_text(json.dumps(timers))
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(Path(os.environ["ATTNVIZ_CPROFILE"]) / f"{path.stem}.prof")
    except BaseException:  # noqa: BLE001 - report like a crashed interpreter would, then leave
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _profiled() -> dict:
    """Wrap ``Figure.savefig`` and ``from_pretrained`` (models, tokenizers, image processors) with CPU timers.

    Returns the dict the timers add to: ``{"savefig": [seconds, calls], "load": [seconds, calls]}``; a
    nested ``from_pretrained`` (``AutoModel`` calling the model class's) is counted once. Only libraries
    already imported are wrapped (the runner preloads both): importing one here would bill its import."""
    timers = {"savefig": [0.0, 0], "load": [0.0, 0]}
    depth = {"load": 0}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            if depth.get(name, 0):
                return function(*args, **kwargs)
            depth[name] = 1
            start = time.process_time()  # CPU, not wall: two lessons share the cores
            try:
                return function(*args, **kwargs)
            finally:
                depth[name] = 0
                timers[name][0] += time.process_time() - start
                timers[name][1] += 1
        return wrapper

    if "matplotlib.figure" in sys.modules:
        figure_class = sys.modules["matplotlib.figure"].Figure
        figure_class.savefig = timed("savefig", figure_class.savefig)
    # the base classes where loading happens (AutoModel & co. call them: counted once), where imported
    for module, cls_name in (("transformers.modeling_utils", "PreTrainedModel"),
                             ("transformers.tokenization_utils_base", "PreTrainedTokenizerBase"),
                             ("transformers.image_processing_base", "ImageProcessingMixin")):
        cls = getattr(sys.modules.get(module), cls_name, None)
        if cls is not None and "from_pretrained" in vars(cls):
            cls.from_pretrained = classmethod(timed("load", cls.from_pretrained.__func__))
    return timers


def _run_forked(lessons: list[tuple[str, Path]], timeout: float, jobs: int, profile: bool = False):
    """Yield ``(index, status, detail, seconds, usage)`` as lessons end, at most ``jobs`` children at a time.

    ``usage`` holds the child's CPU seconds (``cpu``, from ``wait4``) and, with ``profile``, the seconds
    it spent in ``savefig`` and in loading models (``savefig``, ``load``)."""
    logs = Path(tempfile.mkdtemp(prefix="attnviz-course-"))
    waiting = list(enumerate(lessons))
    running: dict[int, tuple[int, Path, float]] = {}  # pid -> (index, log, start)
    while waiting or running:
        while waiting and len(running) < max(1, jobs):
            index, (_tier, path) = waiting.pop(0)
            log = logs / f"{index}.log"
            stats = logs / f"{index}.json" if profile else None
            running[_fork_lesson(path, log, stats)] = (index, log, time.perf_counter())
        time.sleep(0.05)
        for pid, (index, log, start) in list(running.items()):
            done, wait_status, rusage = os.wait4(pid, os.WNOHANG)
            seconds = time.perf_counter() - start
            if not done and seconds > timeout:
                os.kill(pid, signal.SIGKILL)
                _, _, rusage = os.wait4(pid, 0)
                del running[pid]
                yield index, f"timed out after {timeout:.0f} s", "", seconds, _usage(rusage, None)
            elif done:
                del running[pid]
                code = os.waitstatus_to_exitcode(wait_status)
                status = "ok" if code == 0 else f"failed (exit {code})"
                lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
                usage = _usage(rusage, logs / f"{index}.json" if profile else None)
                yield index, status, (lines[-1] if code and lines else ""), seconds, usage


def _usage(rusage, stats: Path | None) -> dict:
    usage = {"cpu": rusage.ru_utime + rusage.ru_stime}
    if stats is not None and stats.exists():
        usage.update({name: seconds for name, (seconds, _calls) in json.loads(stats.read_text()).items()})
    return usage


def run_lessons(only: list[str] | None = None, timeout: float = 600, jobs: int = 2,
                mode: str = "fork", profile: bool = False) -> list[dict]:
    """Run the lessons, ``jobs`` at a time (each in its own process), printing a line as each ends.

    Lessons are independent (each reads only the shipped models and writes its own folder), so running
    two at once on a 2-core machine roughly halves the wall time. ``mode="fork"`` (the default where the
    system has ``fork``) shares the runner's imports and models; ``"subprocess"`` starts each afresh.
    Each result has the lesson's wall and CPU seconds; with ``profile`` (fork mode) also its seconds in
    ``savefig`` and in ``from_pretrained``. The runner's own set-up is the first result (``lesson`` "set-up").
    """
    lessons = [(tier, path) for tier, package, _ in TIERS for path in lesson_files(tier, package)]
    if only:
        lessons = [(t, p) for t, p in lessons if f"{t}/{p.stem}" in only or p.stem in only]
    course_order = {f"{tier}/{path.name}": i for i, (tier, path) in enumerate(lessons)}
    lessons = longest_first(lessons, _read_cpu_times())
    if mode == "fork" and not hasattr(os, "fork"):
        mode = "subprocess"
    start, cpu_start = time.perf_counter(), time.process_time()
    preloaded = prepare_runner() if mode == "fork" and lessons else []
    setup = {"lesson": "set-up", "status": "ok", "seconds": time.perf_counter() - start,
             "usage": {"cpu": time.process_time() - cpu_start}}
    print(f"running {len(lessons)} lessons, {jobs} at a time ({mode}"
          + (f"; set-up {setup['seconds']:.1f} s, preloaded {', '.join(preloaded)}" if preloaded
             else "") + ")", flush=True)
    if mode == "fork":
        outcomes = _run_forked(lessons, timeout, jobs, profile=profile)
    else:
        outcomes = _run_subprocesses(lessons, timeout, jobs)
    finished: dict[int, dict] = {}
    for index, status, detail, seconds, usage in outcomes:
        tier, path = lessons[index]
        finished[index] = {"lesson": f"{tier}/{path.name}", "status": status, "seconds": seconds, "usage": usage}
        print(f"[{len(finished)}/{len(lessons)}] {tier}/{path.name}: {status} in {seconds:.1f} s"
              f" ({usage['cpu']:.1f} CPU-s)" + (f" — {detail}" if detail else ""), flush=True)
    _write_cpu_times({r["lesson"]: r["usage"]["cpu"] for r in finished.values() if r["status"] == "ok"})
    return ([setup] if mode == "fork" else []) + sorted(finished.values(), key=lambda r: course_order[r["lesson"]])


#: each lesson's CPU seconds in the last run (git-ignored, like everything under outputs/)
CPU_TIMES_FILE = OUTPUTS_DIR / ".lesson_cpu_seconds.json"


def longest_first(lessons: list[tuple[str, Path]], cpu_seconds: dict[str, float]) -> list[tuple[str, Path]]:
    """Start the lessons that took longest last time first (course order where nothing is known).

    Two workers taking lessons in course order finish when the last long lesson (faithfulness, the
    course's last) ends while the other worker idles; longest-first ("LPT" scheduling, Graham 1969) keeps
    both busy to the end: the 14 lessons' measured CPU seconds give 89 → 78 s, the sum's half being 77.
    A lesson never timed (new, or a first run) counts as the longest, so it is not left to the end.
    """
    def key(item: tuple[int, tuple[str, Path]]):
        index, (tier, path) = item
        return -cpu_seconds.get(f"{tier}/{path.name}", float("inf")), index

    return [lesson for _, lesson in sorted(enumerate(lessons), key=key)]


def _read_cpu_times() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(CPU_TIMES_FILE.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_cpu_times(new: dict[str, float]) -> None:
    if not new:
        return
    try:
        CPU_TIMES_FILE.parent.mkdir(parents=True, exist_ok=True)
        CPU_TIMES_FILE.write_text(json.dumps({**_read_cpu_times(), **new}, indent=1))
    except OSError:
        pass  # a read-only checkout: next time runs in course order


def _run_subprocesses(lessons: list[tuple[str, Path]], timeout: float, jobs: int):
    """Each lesson a fresh interpreter (the portable way); yields like :func:`_run_forked`."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(_run_one, path, timeout): index for index, (_tier, path) in enumerate(lessons)}
        for future in as_completed(futures):
            yield (futures[future], *future.result())


IMAGE_SUFFIXES = (".png", ".gif", ".jpg", ".jpeg", ".svg", ".webp")
CSV_PREVIEW_ROWS, CSV_PREVIEW_COLUMNS = 6, 7
# an interactive page up to this size previews itself (a live, scaled-down iframe) when its card scrolls
# into view; a larger one (the 512-token head and model views) waits for a click on its preview button
AUTO_PREVIEW_BYTES = 1_500_000


def build_gallery(out_dir: Path = OUTPUTS_DIR) -> Path:
    """Write ``index.html``: every registered file, grouped by tier and lesson, as a grid of cards.

    A card shows its figure (an image thumbnail; a live preview of an HTML page, loaded only when the
    card is visible or clicked; the first rows of a CSV), its caption, its size and the command that
    made it; clicking it opens the figure full size in a viewer on the same page (``Esc`` closes it).
    Everything is relative links and inline CSS/JS, so the page opens offline from the file system.
    """
    sections, contents = [], []
    for tier, package, title in TIERS:
        lessons = []
        for path in lesson_files(tier, package):
            manifest_path = out_dir / tier / path.stem / MANIFEST
            if not manifest_path.exists():
                continue
            manifest = json.loads(manifest_path.read_text())
            cards = [_card(out_dir, f"{tier}/{path.stem}/{entry['file']}", entry) for entry in manifest["files"]]
            contents.append(f'<li><a href="#{tier}-{path.stem}">{html.escape(path.stem)}</a> '
                            f"<small>({len(cards)})</small></li>")
            lessons.append(
                f'<section class="lesson" id="{tier}-{path.stem}"><h3>{tier}/{html.escape(path.name)}</h3>'
                f"<p>{html.escape(_first_doc_line(path))}</p><div class=cards>{''.join(cards)}</div></section>"
            )
        if lessons:
            sections.append(f'<h2 id="{tier}">{title} — {tier}</h2>' + "".join(lessons))
    body = "".join(sections) or "<p>No lesson has written figures yet: run <code>make run</code>.</p>"
    page = (GALLERY_PAGE.replace("__CONTENTS__", "".join(contents)).replace("__BODY__", body)
            .replace("__AUTO_PREVIEW_BYTES__", str(AUTO_PREVIEW_BYTES)))
    index = out_dir / "index.html"
    out_dir.mkdir(parents=True, exist_ok=True)
    index.write_text(page)
    return index


def _human_size(n_bytes: int) -> str:
    for unit, scale in (("MB", 1024**2), ("kB", 1024)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{n_bytes} B"


def _csv_preview(path: Path) -> str:
    """The first rows and columns of a CSV as an HTML table (numbers shortened to 4 significant digits)."""
    import csv

    def cell(text: str) -> str:
        try:
            return html.escape(f"{float(text):.4g}") if text.strip() and not text.strip().isdigit() else html.escape(text)
        except ValueError:
            return html.escape(text if len(text) <= 28 else text[:27] + "…")

    with open(path, newline="", errors="replace") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return '<p class="empty">empty file</p>'
    header, data = rows[0], rows[1:]
    cut = len(header) > CSV_PREVIEW_COLUMNS
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header[:CSV_PREVIEW_COLUMNS]) + ("<th>…</th>" if cut else "")
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row[:CSV_PREVIEW_COLUMNS])
                   + ("<td>…</td>" if cut else "") + "</tr>" for row in data[:CSV_PREVIEW_ROWS])
    note = (f"first {min(len(data), CSV_PREVIEW_ROWS)} of {len(data)} rows"
            + (f", {CSV_PREVIEW_COLUMNS} of {len(header)} columns" if cut else ""))
    return f'<table class="csv"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p class="note">{note}</p>'


def _card(out_dir: Path, rel: str, entry: dict) -> str:
    src = html.escape(rel)
    caption = html.escape(entry["caption"])
    command = html.escape(entry["command"])
    file = out_dir / rel
    size = file.stat().st_size if file.exists() else 0
    name = html.escape(Path(rel).name)
    suffix = Path(rel).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        kind, media = "image", f'<img src="{src}" alt="{caption}" loading="lazy">'
    elif suffix in (".html", ".htm"):
        kind = "html"
        auto = "auto" if size <= AUTO_PREVIEW_BYTES else "click"
        label = ("live preview loads when visible" if auto == "auto" else
                 f'<button type="button" class="load-preview">load a live preview ({_human_size(size)})</button>')
        media = (f'<div class="preview" data-src="{src}" data-load="{auto}"><span class="placeholder">'
                 f"interactive page · {label}</span></div>")
    elif suffix == ".csv" and file.exists():
        kind, media = "csv", f'<div class="table">{_csv_preview(file)}</div>'
    else:
        kind, media = "other", f'<span class="placeholder">{name}</span>'
    return (f'<figure class="card" data-kind="{kind}"><a class="open" href="{src}" data-kind="{kind}" '
            f'title="open {name} full size">{media}</a><figcaption>{caption}</figcaption>'
            f'<p class="meta"><a href="{src}">{name}</a> · <span class="size">{_human_size(size)}</span></p>'
            f"<code>{command}</code></figure>")


GALLERY_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Attention visualization — gallery</title><style>
body{font-family:system-ui,sans-serif;margin:1.2rem 2rem;color:#222;background:#fafafa}
h1{margin:.2rem 0} h2{margin-top:2rem;border-bottom:2px solid #ccc} h3{margin:1.2rem 0 .2rem}
.lesson>p{margin:.2rem 0 .6rem;color:#555;max-width:70rem}
.toc{display:flex;flex-wrap:wrap;gap:.3rem 1rem;padding:0;list-style:none;font-size:.9rem}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:1rem;align-items:start}
.card{margin:0;border:1px solid #ddd;border-radius:6px;padding:.6rem;background:#fff;min-width:0}
.card a.open{display:block;height:240px;overflow:hidden;border-radius:4px;background:#f3f3f3;cursor:zoom-in;
  position:relative;text-decoration:none;color:#555}
.card img{width:100%;height:100%;object-fit:contain;display:block}
.preview{position:absolute;inset:0;overflow:hidden}
.preview iframe{width:1100px;height:900px;border:0;transform-origin:0 0;pointer-events:none;background:#fff}
.placeholder{display:flex;height:100%;align-items:center;justify-content:center;text-align:center;padding:0 1rem;
  font-size:.9rem}
.table{height:100%;overflow:hidden;font-size:.72rem} .csv{border-collapse:collapse;background:#fff}
.csv th,.csv td{border:1px solid #e3e3e3;padding:1px 4px;text-align:right;white-space:nowrap}
.csv th{background:#eef} .note{margin:.2rem .3rem;color:#777}
figcaption{font-size:.88rem;margin:.4rem 0} .meta{font-size:.8rem;margin:.2rem 0;color:#666}
code{font-size:.75rem;background:#f4f4f4;padding:2px 4px;word-break:break-all;display:block}
dialog{padding:0;border:0;border-radius:6px;max-width:98vw;max-height:96vh;overflow:auto}
dialog::backdrop{background:rgba(0,0,0,.6)}
dialog header{position:sticky;top:0;left:0;display:flex;gap:1rem;align-items:center;padding:.4rem .8rem;
  background:#fff;border-bottom:1px solid #ddd;z-index:1}
#viewer-body img{display:block;max-width:none}
#viewer-body iframe{width:94vw;height:86vh;border:0;display:block}
</style></head><body><h1>Attention visualization — every figure of the course</h1>
<p>Written by <code style="display:inline">make run</code>. Click a card to see its figure full size
(<kbd>Esc</kbd> closes it); each card names the command that made it — run it yourself to change the inputs.</p>
<ul class=toc>__CONTENTS__</ul>
__BODY__
<dialog id="viewer"><header><strong id="viewer-title"></strong><a id="viewer-link" target="_blank">open in
a new tab</a><button id="viewer-close" type="button" style="margin-left:auto">close ✕</button></header>
<div id="viewer-body"></div></dialog>
<script>
(function () {
  const viewer = document.getElementById("viewer"), body = document.getElementById("viewer-body");
  function fit(frame) {  // scale the 1100 px wide page down to the card's width
    frame.style.transform = "scale(" + (frame.parentNode.clientWidth / 1100) + ")";
  }
  function load(preview) {
    if (preview.querySelector("iframe")) return;
    const frame = document.createElement("iframe");
    frame.src = preview.dataset.src;
    frame.setAttribute("tabindex", "-1");
    frame.title = "preview of " + preview.dataset.src;
    preview.replaceChildren(frame);
    fit(frame);
  }
  const previews = document.querySelectorAll(".preview");
  if ("IntersectionObserver" in window) {
    const watcher = new IntersectionObserver(entries => entries.forEach(e => {
      if (e.isIntersecting) { load(e.target); watcher.unobserve(e.target); }
    }), {rootMargin: "200px"});
    previews.forEach(p => { if (p.dataset.load === "auto") watcher.observe(p); });
  }
  window.addEventListener("resize", () => document.querySelectorAll(".preview iframe").forEach(fit));
  document.querySelectorAll("a.open").forEach(link => link.addEventListener("click", event => {
    const kind = link.dataset.kind, preview = link.querySelector(".preview");
    if (kind === "other" || kind === "csv") return;  // the browser shows the file itself
    event.preventDefault();
    if (event.target.classList.contains("load-preview")) { load(preview); return; }
    const href = link.getAttribute("href");
    let media;
    if (kind === "image") { media = document.createElement("img"); media.alt = href; }
    else { media = document.createElement("iframe"); media.title = href; }
    media.src = href;
    body.replaceChildren(media);
    document.getElementById("viewer-title").textContent = href;
    document.getElementById("viewer-link").href = href;
    viewer.showModal();
  }));
  document.getElementById("viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("click", e => { if (e.target === viewer) viewer.close(); });
  viewer.addEventListener("close", () => body.replaceChildren());
})();
</script></body></html>"""


def _first_doc_line(path: Path) -> str:
    import ast

    try:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    except SyntaxError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def main(argv=None) -> int:
    parser = OneLineParser(description="Run every lesson in order and build outputs/index.html.")
    parser.add_argument("--only", nargs="*", help="run only these lessons (tier/script or script)")
    parser.add_argument("--gallery-only", action="store_true", help="rebuild the gallery from existing outputs")
    parser.add_argument("--jobs", type=int, default=2, help="lessons run at once (default 2)")
    parser.add_argument("--mode", choices=("fork", "subprocess"), default="fork",
                        help="fork from one runner that imported everything once (default), or start each "
                             "lesson as a fresh interpreter")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per lesson (default 600)")
    parser.add_argument("--profile", metavar="JSON", type=Path,
                        help="also time each lesson's savefig and model loading; write every lesson's figures "
                             "to this JSON file (bench/bench_course.py reads it)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    results = [] if args.gallery_only else run_lessons(args.only, timeout=args.timeout, jobs=args.jobs,
                                                       mode=args.mode, profile=args.profile is not None)
    index = build_gallery()
    if args.profile is not None:
        args.profile.write_text(json.dumps({"wall": time.perf_counter() - start, "results": results}, indent=1))
    lessons = [r for r in results if r["lesson"] != "set-up"]
    failed = [r for r in lessons if r["status"] != "ok"]
    print(f"{len(lessons) - len(failed)}/{len(lessons)} lessons ran in {time.perf_counter() - start:.0f} s")
    print(f"gallery: {index}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
