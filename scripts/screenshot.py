"""Take the README screenshots of the app in headless Chromium (Debian's /usr/bin/chromium).

python scripts/screenshot.py --serve assets/screenshot.png      # serves the app itself
python scripts/screenshot.py --serve --tab compare assets/compare.png  # the Sampler comparison tab
python scripts/screenshot.py --serve --tab latent assets/latent.png    # the Latent space tab
python scripts/screenshot.py --url http://127.0.0.1:7860/ out.png  # an app already running
"""

import argparse
import os
import socket

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def photograph(url: str, out: str, tab: str = "forward", step: int = 150) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1040})
        page.goto(url)
        forward = "document.querySelector('#fwd-player')?.explorerPlayer"
        page.wait_for_function(f"() => {forward}?.panels?.length === 2", timeout=60_000)
        if tab in TABS:
            TABS[tab](page, out)
            browser.close()
            return
        page.evaluate(
            f"() => {{ const s = {forward}.scrub; s.value = '{step}'; s.dispatchEvent(new Event('input')); }}"
        )
        page.wait_for_timeout(500)
        page.screenshot(path=out)
        browser.close()


def compare(page, out: str) -> None:
    """The Sampler comparison tab after a run of its default configurations, scrubbed to 60%."""
    page.get_by_role("tab", name="Sampler comparison").click()
    page.locator("#cmp-run").click()
    page.wait_for_function("() => document.querySelector('#cmp-info')?.innerText.includes('best:')", timeout=300_000)
    box = page.locator("#cmp-progress input[type=number]")
    box.fill("60")
    box.press("Enter")
    page.wait_for_timeout(2500)
    page.screenshot(path=out, full_page=True)


def latent(page, out: str) -> None:
    """The Latent space tab: the spiral inverted, and its rectified-flow comparison."""
    page.get_by_role("tab", name="Latent space").click()
    page.locator("#lat-invert").click()
    page.wait_for_function("() => document.querySelector('#lat-info')?.innerText.includes('round-trip MSE')",
                           timeout=300_000)  # fmt: skip
    page.locator("#lat-interpolate").click()
    page.wait_for_function("() => document.querySelector('#lat-morph-info')?.innerText.includes('Mid-way')",
                           timeout=300_000)  # fmt: skip
    page.get_by_text("Rectified flow: straight paths").click()
    page.locator("#lat-flow-run").click()
    page.wait_for_function("() => document.querySelector('#lat-flow-info')?.innerText.includes('Straightness')",
                           timeout=300_000)  # fmt: skip
    page.wait_for_timeout(2500)
    page.screenshot(path=out, full_page=True)


TABS = {"compare": compare, "latent": latent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", default="assets/screenshot.png")
    parser.add_argument("--url", help="photograph an app that is already running here")
    parser.add_argument("--serve", action="store_true", help="start the app on a spare port first")
    parser.add_argument("--tab", choices=["forward", *TABS], default="forward")
    args = parser.parse_args()
    if args.url:
        photograph(args.url, args.out, args.tab)
        return
    from explorer.ui import build_demo, launch_kwargs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = build_demo()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        photograph(demo.local_url, args.out, args.tab)
    finally:
        demo.close()


if __name__ == "__main__":
    main()
