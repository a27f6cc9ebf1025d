"""Headless Debian Chromium for the dashboard tests (Selenium through /usr/bin/chromedriver; nothing is downloaded)."""

from __future__ import annotations

import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1600,1400",
    "--lang=zh-CN",
)
# DOM markers of Superset 6.1's dashboard grid
CHART_HOLDER = ".dashboard-component-chart-holder"
LOADING = ".dashboard-component-chart-holder .loading, .dashboard-component-chart-holder [data-test='loading-indicator']"
ERROR = (
    ".dashboard-component-chart-holder [data-test='error-alert'], .dashboard-component-chart-holder .alert-danger,"
    " .dashboard-component-chart-holder .ant-alert-error"
)


def browser(user_data_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def login(driver, url: str, username: str, password: str, attempts: int = 3) -> None:
    """Log in through the login page (the React form can take a moment to become usable: retried)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    for _ in range(attempts):
        driver.get(f"{url}/login/")
        user_box = WebDriverWait(driver, 60).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "input[name='username'], #username")))
        user_box.clear()
        user_box.send_keys(username)
        password_box = driver.find_element(By.CSS_SELECTOR, "input[name='password'], #password")
        password_box.clear()
        password_box.send_keys(password + Keys.ENTER)
        try:
            WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)
            return
        except TimeoutException:
            continue
    page = driver.find_element(By.CSS_SELECTOR, "body").text[:300]
    raise AssertionError(f"could not log in as {username} at {url}: the page says {page!r}")


def open_dashboard(driver, url: str, slug: str, timeout: float = 120) -> dict:
    """Open a dashboard and wait until no chart is loading; returns what the page shows."""
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/superset/dashboard/{slug}/?standalone=true")
    deadline = time.monotonic() + timeout
    holders: list = []
    while time.monotonic() < deadline:
        holders = driver.find_elements(By.CSS_SELECTOR, CHART_HOLDER)
        if holders and not driver.find_elements(By.CSS_SELECTOR, LOADING):
            break
        time.sleep(0.5)
    time.sleep(2)  # let the last canvases paint
    errors = [e.text.strip()[:300] for e in driver.find_elements(By.CSS_SELECTOR, ERROR)]
    return {
        "charts": len(holders),
        "loading": len(driver.find_elements(By.CSS_SELECTOR, LOADING)),
        "errors": errors,
        "title": driver.title,
    }
