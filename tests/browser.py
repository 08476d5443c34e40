"""Headless Debian Chromium through selenium, for the browser tests and the README screenshot.

Nothing is ever downloaded: the system's chromedriver is named explicitly
(so Selenium Manager is skipped) and ``SE_OFFLINE`` is set as well.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
)


def missing() -> str:
    """What is missing to run Chromium under selenium ("" when nothing is)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package (dev extra)"
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        return "Debian's chromium"
    if not shutil.which("chromedriver"):
        return "Debian's chromium-driver"
    return ""


def start_chromium(profile: str, width: int = 1100, height: int = 720) -> Any:
    """A headless Chromium with a fresh profile in ``profile``; call ``.quit()`` when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    service = Service(executable_path=shutil.which("chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(20)
    return driver


def set_viewport(driver: Any, width: int, height: int) -> None:
    """Make the page's viewport exactly ``width`` x ``height`` CSS px (a headless window's own
    size is not the viewport: Chromium keeps a minimum width and subtracts its frame)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )
