"""Issue 14: logs and YAML as k9s shows them, driven with Pilot against the Kubernetes API emulator.

`/` searches (matches highlighted, n/N, "match 2/3" / "no match", esc clears), `w` wraps, and for logs `c`
picks a container (init containers too), `p` reads the previous instance (`?previous=true`), `f` follows
(`follow=true`: one open stream, lines appended as the container writes them, the view scrolls with them only
while it shows the bottom), at most 5,000 lines kept and said so. The request log shows what was asked."""

from __future__ import annotations

import pytest

from mlopstui import config
from mlopstui.app import MlopsApp
from mlopstui.screens.logs import ContainerPicker, PodLogScreen, YamlScreen
from support.ui import screen_lines, status_text, wait_for

NS = "logs-ui"
LOG = "alpha ERROR one\nbeta ok\ngamma error two\n\x1b[31mdelta\x1b[0m Error three\n\x1b]0;retitled\x07epsilon\n"


@pytest.fixture
def emu(tmp_path):
    from mlopstui.backends.kube import NAMESPACES, PODS, KubeClient
    from mlopstui.sandbox.kubeapi import KubeApiServer

    srv = KubeApiServer(str(tmp_path / "kubeapi"), run_controllers=True).start()
    kube = KubeClient.from_settings(srv.kubeconfig_path, "mlopstui-sandbox", NS)
    try:
        kube.create(NAMESPACES, {"metadata": {"name": NS}})
        kube.create(PODS, {"metadata": {"name": "web", "annotations": {"sandbox.mlopstui.dev/log": LOG}},
                           "spec": {"initContainers": [{"name": "setup", "image": "busybox:1.36"}],
                                    "containers": [{"name": "app", "image": "nginx:1.27"},
                                                   {"name": "sidecar", "image": "busybox:1.36"}]}}, NS)
        kube.create(PODS, {"metadata": {"name": "crashy", "annotations": {"sandbox.mlopstui.dev/fault": "crashloop"}},
                           "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}, NS)
        yield srv
    finally:
        kube.close()
        srv.stop()


def make_app(srv, tmp_path) -> MlopsApp:
    return MlopsApp(config.load(None, kubeconfig=srv.kubeconfig_path, context="mlopstui-sandbox", namespace=NS,
                                audit_log=str(tmp_path / "audit.jsonl"), refresh_interval=3600.0))


def log_requests(srv, pod: str) -> list[str]:
    return [e.get("query") or "" for e in srv.request_log if e["path"].endswith(f"/pods/{pod}/log")]


async def open_log(app, pilot, pod: str, **kw) -> PodLogScreen:
    await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")
    app.push_screen(PodLogScreen(NS, pod, **kw))
    await wait_for(pilot, lambda: isinstance(app.screen, PodLogScreen) and app.screen.view().line_count > 0)
    return app.screen


def styles_at(view, i: int) -> list:
    return [seg.style for seg in view._strip(i) if seg.style is not None and seg.style.reverse]


@pytest.mark.asyncio
async def test_search_highlights_jumps_and_escape_clears(emu, tmp_path):
    app = make_app(emu, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_log(app, pilot, "web")
        view = screen.view()
        # colours parsed into styles, the OSC removed: no escape reaches the terminal
        assert view.plain_lines() == ["alpha ERROR one", "beta ok", "gamma error two", "delta Error three", "epsilon"]
        assert any(seg.style and seg.style.color for seg in view._strip(3))
        await pilot.press("slash", *"error", "enter")
        await wait_for(pilot, lambda: "match 1/3" in status_text(app))
        assert styles_at(view, 0) and styles_at(view, 2) and not styles_at(view, 1)
        assert any(s.bold and s.underline for s in styles_at(view, 0))  # the current match
        await pilot.press("n")
        assert "match 2/3" in status_text(app)
        assert any(s.bold and s.underline for s in styles_at(view, 2))
        await pilot.press("n", "n")
        assert "match 1/3" in status_text(app)  # wraps around
        await pilot.press("N")
        assert "match 3/3" in status_text(app)
        await pilot.press("slash")
        app.screen.query_one("#search").value = "zzz"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "no match" in status_text(app))
        await pilot.press("escape")  # clears the search, stays
        assert isinstance(app.screen, PodLogScreen) and "match" not in status_text(app) and not styles_at(view, 0)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PodLogScreen))


@pytest.mark.asyncio
async def test_container_picker_lists_init_containers_and_reads_the_chosen_one(emu, tmp_path):
    app = make_app(emu, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_log(app, pilot, "web")
        assert screen.container == "app"  # kubectl's default: the first container
        head = str(screen.query_one("#log-head").render())
        assert "container app" in head and "3 containers" in head and "last 5,000 lines kept" in head
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ContainerPicker))
        options = app.screen.query_one("#containers")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert [x.lstrip("› ").split()[0] for x in labels] == ["app", "sidecar", "setup"]
        assert "(init container" in labels[2] and "(container" in labels[0]
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PodLogScreen) and screen.container == "setup")
        await wait_for(pilot, lambda: any("container=setup" in q for q in log_requests(emu, "web")))
        assert "(init)" in str(screen.query_one("#log-head").render())


@pytest.mark.asyncio
async def test_previous_reads_the_terminated_instance_or_says_why_not(emu, tmp_path):
    app = make_app(emu, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_log(app, pilot, "crashy")
        await pilot.press("p")
        await wait_for(pilot, lambda: any("restart 4 of 5" in x for x in screen.view().plain_lines()))
        assert any("previous=true" in q for q in log_requests(emu, "crashy"))
        assert "previous instance" in str(screen.query_one("#log-head").render())
        await pilot.press("escape")
        screen = await open_log(app, pilot, "web")
        await pilot.press("p")
        await wait_for(pilot, lambda: "not found" in status_text(app))
        assert 'previous terminated container "app" in pod "web" not found' in status_text(app)
        assert screen.view().line_count == 0


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_wrap_folds_long_lines(emu, tmp_path, size):
    from mlopstui.backends.kube import PODS, KubeClient

    long = "start-" + "x" * 400 + "-end"
    kube = KubeClient.from_settings(emu.kubeconfig_path, "mlopstui-sandbox", NS)
    kube.create(PODS, {"metadata": {"name": "wide", "annotations": {"sandbox.mlopstui.dev/log": long + "\nshort"}},
                       "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}, NS)
    kube.close()
    app = make_app(emu, tmp_path)
    async with app.run_test(size=size) as pilot:
        screen = await open_log(app, pilot, "wide")
        await pilot.pause(0.2)
        shown = "\n".join(screen_lines(app))
        assert "start-" in shown and "-end" not in shown  # cut at the edge
        await pilot.press("w")
        await pilot.pause(0.2)
        shown = "\n".join(screen_lines(app))
        assert "start-" in shown and "-end" in shown and "short" in shown
        assert screen.view().virtual_size.height > 2
        assert "wrap on" in str(screen.query_one("#log-head").render())


@pytest.mark.asyncio
async def test_follow_appends_streamed_lines_and_scrolls_only_at_the_bottom(emu, tmp_path):
    app = make_app(emu, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_log(app, pilot, "web")
        view = screen.view()
        assert screen.following and "following" in str(screen.query_one("#log-head").render())
        emu.store.append_log(NS, "web", "zeta arrives\n")
        await wait_for(pilot, lambda: view.plain_lines()[-1:] == ["zeta arrives"])
        follows = [q for q in log_requests(emu, "web") if "follow=true" in q]
        assert len(follows) == 1  # one open stream, no polling
        emu.store.append_log(NS, "web", "".join(f"line {i}\n" for i in range(60)))
        await wait_for(pilot, lambda: view.plain_lines()[-1:] == ["line 59"])
        await pilot.pause(0.1)
        assert view.scroll_y == view.max_scroll_y > 0  # it was at the bottom: it follows
        view.scroll_to(y=0, animate=False, immediate=True)
        emu.store.append_log(NS, "web", "eta below\n")
        await wait_for(pilot, lambda: view.plain_lines()[-1:] == ["eta below"])
        assert view.scroll_y == 0  # reading above: the view stays
        # bounded: at most 5,000 lines, the oldest dropped, and the screen says so
        emu.store.append_log(NS, "web", "".join(f"bulk {i}\n" for i in range(5100)))
        await wait_for(pilot, lambda: view.plain_lines()[-1:] == ["bulk 5099"], timeout=30)
        assert view.line_count == 5000 and view.dropped > 0
        assert "older dropped" in str(screen.query_one("#log-head").render())
        await pilot.press("f")
        assert not screen.following and "not following" in str(screen.query_one("#log-head").render())
        emu.store.append_log(NS, "web", "theta after stop\n")
        await pilot.pause(0.8)
        assert view.plain_lines()[-1] == "bulk 5099"


@pytest.mark.asyncio
async def test_yaml_search_and_wrap(emu, tmp_path):
    import yaml

    from mlopstui.backends.kube import PODS, KubeClient

    kube = KubeClient.from_settings(emu.kubeconfig_path, "mlopstui-sandbox", NS)
    pod = kube.get(PODS, "web", NS)
    kube.close()
    want = sum(line.lower().count("image") for line in yaml.safe_dump(pod, sort_keys=False, width=200).splitlines())
    app = make_app(emu, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "StackScreen")
        app.push_screen(YamlScreen(pod))
        await wait_for(pilot, lambda: isinstance(app.screen, YamlScreen) and app.screen.view().line_count > 0)
        await pilot.press("slash", *"image", "enter")
        await wait_for(pilot, lambda: f"match 1/{want}" in status_text(app))
        await pilot.press("n")
        assert f"match 2/{want}" in status_text(app)
        await pilot.press("escape")
        assert "match" not in status_text(app) and isinstance(app.screen, YamlScreen)
