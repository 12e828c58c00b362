"""Take the README's pictures of the app in headless Chromium (Debian's /usr/bin/chromium): each tab
after its default buttons are pressed, and a GIF of the in-browser player stepping through a run.

python -m scripts.screenshot --serve assets/                  # every tab and the player GIF into assets/
python -m scripts.screenshot --serve --tab compare assets/    # one tab
python -m scripts.screenshot --url http://127.0.0.1:7860/ assets/  # an app already running
"""

import argparse
import io
import os
import socket
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import imageio.v3 as iio
from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
VIEWPORT = {"width": 1400, "height": 1040}
RUN_TIMEOUT_MS = 300_000
PLAYER_GIF_FRAMES, PLAYER_GIF_FPS = 26, 8


def player(elem_id: str) -> str:
    return f"document.querySelector('#{elem_id}')?.explorerPlayer"


def scrub(page: Page, elem_id: str, tick: int) -> None:
    """Move a player to `tick`, as dragging its slider would (in the browser: no request)."""
    move = f"const s = {player(elem_id)}.scrub; s.value = '{tick}'; s.dispatchEvent(new Event('input'));"
    page.evaluate(f"() => {{ {move} }}")


def press(page: Page, button: str, answer: str, text: str) -> None:
    """Click a button and wait until the element `answer` shows `text`."""
    page.locator(f"#{button}").click()
    page.wait_for_function(f"() => document.querySelector('#{answer}')?.innerText.includes({text!r})",
                           timeout=RUN_TIMEOUT_MS)  # fmt: skip
    page.wait_for_timeout(1500)  # the plots draw a moment after the text


def open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(1000)


def forward(page: Page) -> None:
    """The spiral at t = 150 of 1000 under the cosine schedule."""
    scrub(page, "fwd-player", 150)
    page.wait_for_timeout(500)


def forward_ve(page: Page) -> None:
    """The spiral under the variance-exploding process at t = 700, with Var(x_t) beside VP's and sub-VP's."""
    open_tab(page, "Forward noising")
    choose = page.locator("#fwd-schedule input")
    choose.click()
    choose.fill("ve")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#fwd-info')?.innerText.includes('σ_max')", timeout=60_000)
    page.get_by_label("subvp", exact=True).last.check()
    page.get_by_text("Schedules: signal, noise, log-SNR and Var(x_t) against t").click()
    page.wait_for_function(f"() => {player('fwd-player')}?.panels?.length === 2 && "
                           "document.querySelector('#fwd-variance-plot .js-plotly-plot')", timeout=60_000)  # fmt: skip
    page.wait_for_timeout(2500)
    scrub(page, "fwd-player", 700)
    page.wait_for_timeout(500)


def reverse(page: Page) -> None:
    """spiral-mlp sampled by DDPM, the player half-way."""
    open_tab(page, "Reverse denoising")
    press(page, "rev-sample", "rev-info", "t = 0 of 1000")
    scrub(page, "rev-player", 140)


def compare(page: Page) -> None:
    """The default configurations side by side, 60% through each trajectory."""
    open_tab(page, "Sampler comparison")
    press(page, "cmp-run", "cmp-info", "best:")
    scrub(page, "cmp-player", 120)


def latent(page: Page) -> None:
    """The spiral inverted into latents, and the slerp/lerp morph half-way."""
    open_tab(page, "Latent space")
    press(page, "lat-invert", "lat-info", "round-trip MSE")
    press(page, "lat-interpolate", "lat-morph-info", "Mid-way")
    scrub(page, "lat-player", 4)


def discrete(page: Page) -> None:
    """Absorbing corruption of the digits at t = 50, and a generation by digits-absorbing."""
    open_tab(page, "Discrete (D3PM)")
    press(page, "d3-show", "d3-info", "t = 50 of 100")
    press(page, "d3r-sample", "d3r-info", "reverse steps")
    scrub(page, "d3r-player", 60)


def guidance(page: Page) -> None:
    """The sweep over w for the spiral class of patterns-cond."""
    open_tab(page, "Guidance")
    press(page, "cfg-run", "cfg-info", "precision")


def score(page: Page) -> None:
    """spiral-mlp's learned score beside the exact one, at the field's first shown t."""
    open_tab(page, "Score and likelihood")
    open_tab(page, "Score field")
    press(page, "score-run", "score-info", "relative error")


def elbo(page: Page) -> None:
    """digits-unet's ELBO term by term, and L_simple's weighting beside the ELBO's."""
    open_tab(page, "Score and likelihood")
    open_tab(page, "ELBO")
    press(page, "elbo-run", "elbo-info", "ELBO =")


def train(page: Page) -> None:
    """The default spiral run, photographed at its second preview."""
    open_tab(page, "Train")
    page.locator("#train-name textarea, #train-name input").first.fill("screenshot-run")
    page.locator("#train-start").click()
    preview = "document.querySelector('#train-preview .js-plotly-plot')"
    page.wait_for_function(
        f"() => {preview}?._fullData?.length > 0 && !{preview}.layout.title.text.endsWith('step 1')",
        timeout=RUN_TIMEOUT_MS,
    )  # fmt: skip (the second preview: the first is an untrained model's)
    page.wait_for_timeout(2000)


TABS: dict[str, Callable[[Page], None]] = {"forward": forward, "forward-ve": forward_ve, "reverse": reverse,
                                           "compare": compare, "latent": latent, "discrete": discrete,
                                           "guidance": guidance, "score": score, "elbo": elbo,
                                           "train": train}  # fmt: skip


def player_gif(page: Page, out: Path) -> None:
    """The Reverse tab's player stepped from t = 1000 to 0, photographed frame by frame."""
    open_tab(page, "Reverse denoising")
    frames = []
    for k in range(PLAYER_GIF_FRAMES):
        scrub(page, "rev-player", round(200 * k / (PLAYER_GIF_FRAMES - 1)))
        frames.append(iio.imread(io.BytesIO(page.locator("#rev-player").screenshot()), extension=".png")[..., :3])
    frames += [frames[-1]] * PLAYER_GIF_FPS  # rest a second on the spiral
    iio.imwrite(out, frames, extension=".gif", duration=1000 / PLAYER_GIF_FPS, loop=0)


def photograph(url: str, folder: Path, tabs: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url)
        page.wait_for_function(f"() => {player('fwd-player')}?.panels?.length === 2", timeout=60_000)
        for tab in tabs:
            TABS[tab](page)
            page.screenshot(path=str(folder / f"tab-{tab}.png"), full_page=True)
            print(f"wrote {folder / f'tab-{tab}.png'}")
            if tab == "reverse":
                player_gif(page, folder / "player.gif")
                print(f"wrote {folder / 'player.gif'}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", default="assets", type=Path)
    parser.add_argument("--url", help="photograph an app that is already running here")
    parser.add_argument("--serve", action="store_true", help="start the app on a spare port first")
    parser.add_argument("--tab", choices=list(TABS), help="only this tab (default: all of them)")
    args = parser.parse_args()
    tabs = [args.tab] if args.tab else list(TABS)
    if args.url:
        photograph(args.url, args.folder, tabs)
        return
    from explorer.ui import build_demo, launch_kwargs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs(demo))
    try:
        photograph(demo.local_url, args.folder, tabs)
    finally:
        demo.close()


if __name__ == "__main__":
    main()
