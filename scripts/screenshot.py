"""Take the README screenshot of the running app in headless Chromium.

Usage: python scripts/screenshot.py [URL] [OUT.png]   (the app must already be running)
"""

import sys

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/"
    out = sys.argv[2] if len(sys.argv) > 2 else "assets/screenshot.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        page.goto(url)
        page.locator("#fwd-points .js-plotly-plot").first.wait_for(timeout=60_000)
        number = page.locator("#fwd-t input[type=number]")
        number.fill("300")
        number.press("Enter")
        page.wait_for_function(
            "() => document.querySelector('#fwd-info')?.innerText.includes('t = 300')", timeout=30_000
        )
        page.wait_for_timeout(1500)
        page.screenshot(path=out, full_page=False)
        browser.close()


if __name__ == "__main__":
    main()
