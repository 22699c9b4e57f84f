"""Where a lesson's files go, and the captions the gallery shows for them.

Run with no ``--out``, a lesson writes under ``outputs/<tier>/<script>/`` in the repository (for example
``outputs/01_beginner/attention_basics/``). Every file is registered with a caption in that folder's
``manifest.json``, together with the command that made it; ``make run`` builds ``outputs/index.html``
from those manifests, so a new lesson joins the gallery just by saving its figures through here.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

from attnviz import OUTPUTS_DIR, REPO_ROOT

MANIFEST = "manifest.json"


def _command_line(script: Path) -> str:
    try:
        shown = script.resolve().relative_to(REPO_ROOT)
    except ValueError:
        shown = script
    return " ".join(["python", shlex.quote(str(shown)), *map(shlex.quote, sys.argv[1:])])


def check_output_folder(directory, name: str = "--out") -> Path:
    """A folder that exists or can be created, without creating it: not a file, not under a file, its nearest
    existing parent writable. Raises a one-line ``ValueError`` naming the option (``--out``); the command line
    checks ``--out`` with it before any work, and :class:`LessonOutputs` again when it creates the folder."""
    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{name}: {directory} is a file; expected a folder to write the figures into")
    for parent in directory.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{name}: {directory} is under {parent}, which is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"{name}: cannot create {directory}: {parent} is not writable")
            break
    return directory


def _make_folder(directory: Path, name: str) -> None:
    """Create ``directory`` (and its parents), or raise a one-line ``ValueError`` naming the option: a path
    that is a file, lies under a file, or cannot be written is a user error, not a traceback."""
    check_output_folder(directory, name)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".write-test"
        probe.touch()
        probe.unlink()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise ValueError(f"{name}: cannot create or write the folder {directory} ({reason}); "
                         "give a writable folder") from None


def save_png(fig, path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` as a PNG, drawing it once instead of two or three times; returns the path.

    Every draw lays out all the figure's text again (each tick label is measured several times per draw),
    so the fewer draws, the faster. ``fig.savefig`` draws a figure that has a layout engine (constrained
    layout) twice: once with drawing switched off, to run the layout, and once for real; with
    ``bbox_inches="tight"`` a figure without one is drawn twice as well (to measure, then to write). Here
    the layout runs once, then is frozen (the engine removed: the axes stay where it put them), and a
    figure without an engine is cropped to its measured tight box, so ``savefig`` draws once. The pixels are
    the same as ``savefig``'s; ``test_plotting`` checks it.
    """
    import matplotlib

    path = Path(path)
    engine, shown_dpi = fig.get_layout_engine(), fig.get_dpi()
    fig.set_dpi(dpi)  # text is measured in pixels: lay out at the dpi the figure is drawn at
    try:
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine(None)  # laid out: savefig must not run the layout (and its extra draw) again
            fig.savefig(path, dpi=dpi)
        else:  # the figure's own fixed margins: crop to what is drawn, padded as savefig pads
            box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
            fig.savefig(path, dpi=dpi, bbox_inches=box.padded(matplotlib.rcParams["savefig.pad_inches"]))
    finally:
        fig.set_dpi(shown_dpi)
    return path


class LessonOutputs:
    """The output folder of one lesson run; ``save_figure`` / ``register`` record captions.

    ``LessonOutputs(__file__, args.out)`` inside a lesson's ``main()``. Creating it starts a fresh
    manifest, so re-running a lesson does not list old figures twice.
    """

    def __init__(self, script_file, out=None, *, quiet: bool = False):
        script = Path(script_file)
        self.tier, self.script = script.resolve().parent.name, script.stem
        self.directory = Path(out) if out else OUTPUTS_DIR / self.tier / self.script
        _make_folder(self.directory, "--out" if out else "outputs folder")
        self.command = _command_line(script)
        self.quiet = quiet
        self.entries: list[dict] = []
        self._write_manifest()

    def path(self, name: str) -> Path:
        """The full path for a file called ``name`` in this lesson's folder."""
        return self.directory / name

    def register(self, name: str, caption: str) -> Path:
        """Record a file already written into the folder (HTML, GIF, CSV) with its caption."""
        path = self.path(name)
        if not path.exists():
            raise FileNotFoundError(f"{path}: registered as an output but it was never written")
        self.entries = [e for e in self.entries if e["file"] != name]
        self.entries.append({"file": name, "caption": caption, "command": self.command})
        self._write_manifest()
        if not self.quiet:
            print(f"wrote {path}")
        return path

    def save_figure(self, fig, name: str, caption: str, dpi: int = 100) -> Path:
        """Save a matplotlib figure as PNG (:func:`save_png`), close it, and record its caption.

        100 dpi: sharp on screen for the gallery, and a third fewer pixels to render than 130."""
        import matplotlib.pyplot as plt

        if not name.endswith(".png"):
            name += ".png"
        save_png(fig, self.path(name), dpi=dpi)
        plt.close(fig)
        return self.register(name, caption)

    def save_heatmap_html(self, name: str, matrix, caption: str, **heatmap_options) -> Path:
        """Write the interactive twin of a heatmap (:func:`attnviz.plotting.heatmap_html`) and record it.

        ``heatmap_options`` are ``heatmap_html``'s keyword arguments (``xlabels``, ``ylabels``, ``title``, …).
        """
        from attnviz.plotting import heatmap_html

        if not name.endswith(".html"):
            name += ".html"
        heatmap_html(matrix, path=self.path(name), **heatmap_options)
        return self.register(name, caption)

    def _write_manifest(self) -> None:
        data = {"tier": self.tier, "script": self.script, "command": self.command, "files": self.entries}
        (self.directory / MANIFEST).write_text(json.dumps(data, indent=1))
