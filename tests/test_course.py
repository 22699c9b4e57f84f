"""The course runner and gallery: order of lessons, and every registered figure on the page."""

import json

from attnviz.course import build_gallery, lesson_files
from attnviz.outputs import LessonOutputs


def test_lessons_follow_the_tier_order():
    names = [p.stem for p in lesson_files("01_beginner", "beginner")]
    assert names[:3] == ["attention_basics", "self_attention_heatmap", "attention_patterns"]


def test_gallery_lists_every_registered_file_with_caption_and_command(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnviz import REPO_ROOT

    out = LessonOutputs(REPO_ROOT / "01_beginner" / "attention_basics.py", tmp_path / "01_beginner" / "attention_basics",
                        quiet=True)
    fig, ax = plt.subplots()
    ax.imshow([[0.5, 0.5], [1.0, 0.0]])
    out.save_figure(fig, "first", "A caption with <angle brackets> & an ampersand.")
    (out.path("view.html")).write_text("<html></html>")
    out.register("view.html", "An interactive page.")
    manifest = json.loads((out.directory / "manifest.json").read_text())
    assert [e["file"] for e in manifest["files"]] == ["first.png", "view.html"]

    page = build_gallery(tmp_path).read_text()
    assert 'src="01_beginner/attention_basics/first.png"' in page
    assert "A caption with &lt;angle brackets&gt; &amp; an ampersand." in page  # escaped, not raw HTML
    assert 'href="01_beginner/attention_basics/view.html"' in page and "An interactive page." in page
    assert "python 01_beginner/attention_basics.py" in page  # the command that made it
    assert page.index("Beginner") < page.index("first.png")

    # a second run of the lesson starts a fresh manifest: nothing is listed twice
    LessonOutputs(REPO_ROOT / "01_beginner" / "attention_basics.py", out.directory, quiet=True)
    assert json.loads((out.directory / "manifest.json").read_text())["files"] == []
