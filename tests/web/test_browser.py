"""The web page in a real headless browser: Debian's chromium driven by Selenium through the system's chromedriver
(nothing is downloaded). The server is the real command, ``python -m chemrnn serve``, on a free port.

These tests skip, saying why, only when chromium or chromedriver is missing (``.ci/run`` installs both with apt).
Screenshots go to a temporary folder, or to ``$CHEMRNN_SCREENSHOTS`` (``docs/web`` for the README's pictures).
"""
import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("browser")  # one server and one browser for the whole file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    pytest.skip("the browser tests need Debian's chromium and chromium-driver "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from chemrnn.errors import InputError  # noqa: E402
from chemrnn.web.service import training_files  # noqa: E402
from conftest import stand_in_canonical_set  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ACTIVES = ["CN(C(=O)CN(Cc1cccnc1)CC1CCCO1)C1CC1", "CCNc1nnc(SCc2csc(-c3ccoc3)n2)s1",
           "CCC(=O)Nc1ccc(C(=O)Nc2cc(OC)ccc2OC)cc1", "Cc1ccc2oc(=O)n(CC(=O)NCCn3ccc(C)n3)c2c1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A runs folder holding the record of the shipped prior's training (docs/prior: config, log, metrics)."""
    root = tmp_path_factory.mktemp("web_runs")
    (root / "prior_moses").mkdir()
    for name in ("config.json", "log.csv", "metrics.json"):
        shutil.copy(ROOT / "docs" / "prior" / name, root / "prior_moses" / name)
    return root


@pytest.fixture(scope="module")
def server(runs):
    """``chemrnn serve`` as a user starts it; the time until it answers is checked (< 5 s on an idle machine;
    allowed 20 s here, where tests share two cores)."""
    port = free_port()
    path = [str(ROOT / "src")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "CHEMRNN_CACHE_DIR": str(runs.parent / "cache")}
    try:  # novelty against MOSES train, where it is here: a stand-in of its canonical set (the real one takes minutes)
        stand_in_canonical_set(training_files("shipped"), ACTIVES, runs.parent / "cache")
    except InputError:
        pass
    log = open(runs.parent / f"serve-{port}.log", "wb")
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", str(runs)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    import urllib.request

    url = f"http://127.0.0.1:{port}/"
    while True:
        try:
            urllib.request.urlopen(url + "api/info", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.perf_counter() - t0 > 60:
                proc.kill()
                raise AssertionError(Path(log.name).read_text()) from None
            time.sleep(0.1)
    started = time.perf_counter() - t0
    assert started < 20, f"the server took {started:.1f} s to answer"
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    d = Path(os.environ.get("CHEMRNN_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def new_browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--disable-extensions", "--no-first-run", "--disable-background-networking"):
        opts.add_argument(a)
    return webdriver.Chrome(service=Service(DRIVER), options=opts)


@pytest.fixture(scope="module")
def browser():
    d = new_browser()
    yield d
    d.quit()


def screenshot(browser, shots: Path, name: str, height: int = 900) -> None:
    """A small PNG (a 64-colour palette) of the page as it is, ``height`` pixels of it from the top."""
    path = shots / f"{name}.png"
    if height != 900:
        browser.set_window_size(1280, height)
    browser.save_screenshot(str(path))
    if height != 900:
        browser.set_window_size(1280, 900)
    try:
        from PIL import Image

        Image.open(path).convert("RGB").quantize(64).save(path, optimize=True)
    except ImportError:  # pragma: no cover
        pass


def open_tab(browser, server, tab: str):
    browser.get("about:blank")  # a fresh page each time (a new hash alone would not reload it)
    browser.get(server + "#" + tab)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    browser.execute_script("localStorage.clear()")


def wait(browser, seconds, condition):
    """Poll ``condition`` until it holds; an element re-rendered between finding it and reading it (the page redraws
    its tables as jobs move) is looked up again at the next poll, not taken as a failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    return WebDriverWait(browser, seconds, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)


def type_into(browser, element_id: str, text: str):
    """Replace what a field holds with ``text``; returns the field."""
    field = browser.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)
    return field


def rows(browser):
    found = browser.find_elements(By.CSS_SELECTOR, "#predict-table tbody tr")
    return {int(tr.get_attribute("data-line")): tr for tr in found}


def cell(tr, cls):
    return tr.find_element(By.CLASS_NAME, cls).text


# ------------------------------------------------------------------------------------------- tests
def test_pasted_smiles_are_predicted_as_the_command_line_does(server, browser, shots, tmp_path):
    from chemrnn.cli import main

    lines = ["CC(=O)Oc1ccccc1C(=O)O aspirin", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C caffeine", "c1ccccc1[Se]C",
             "CC(C)Cc1ccc(cc1)C(C)C(=O)O ibuprofen", "C1CC( broken"]
    open_tab(browser, server, "predict")
    type_into(browser, "smiles-input", "\n".join(lines))
    browser.find_element(By.ID, "predict-btn").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "predict-summary").text)
    got = rows(browser)
    assert sorted(got) == [1, 2, 3, 4, 5]
    # the command line on the same lines
    src = tmp_path / "in.smi"
    src.write_text("\n".join(lines) + "\n")
    assert main(["--quiet", "property", "predict", "shipped", str(src), "-o", str(tmp_path / "out.csv")]) == 0
    with open(tmp_path / "out.csv") as fh:
        cli = {int(r["line"]): r for r in csv.DictReader(fh)}
    for line, r in cli.items():
        tr = got[line]
        for t in ("logP", "TPSA"):  # the page shows the command line's value to 2 decimals, as RDKit's
            assert cell(tr, f"{t}-model") == (f"{float(r[t]):.2f}" if r[t] else ""), line
            title = tr.find_element(By.CLASS_NAME, f"{t}-model").get_attribute("title")
            assert title == (f"{t} {r[t]}" if r[t] else ""), line  # the full figure on hovering
            assert re.fullmatch(r"(-?\d+\.\d\d)?", cell(tr, f"{t}-rdkit")), line
        if r["error"]:
            assert r["error"] in cell(tr, "note")
    assert "tokens the model never saw in training: [Se]" in cell(got[3], "note")
    assert "row-unseen" in got[3].get_attribute("class") and "row-error" in got[5].get_attribute("class")
    assert cell(got[3], "logP-rdkit")  # RDKit still reads it
    assert browser.find_element(By.ID, "predict-summary").text.startswith(
        "5 rows: 3 predicted, 1 invalid SMILES, 1 with tokens the model never saw")
    wait(browser, 20, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#predict-table img')].every(i => i.complete && i.naturalWidth > 0)"))
    assert browser.find_element(By.ID, "predict-csv").get_attribute("href").startswith("blob:")
    screenshot(browser, shots, "predict", height=1150)


def test_impossible_values_are_clipped_and_said_with_units(server, browser):
    """A 102-carbon chain is longer than any molecule the shipped model was trained on, and the model predicts it
    (and biphenyl) a negative TPSA: the page shows 0.00 and says both in the note; the headers give TPSA's unit."""
    open_tab(browser, server, "predict")
    type_into(browser, "smiles-input", "C" * 102 + " chain\nc1ccccc1-c1ccccc1 biphenyl\nCCO")
    browser.find_element(By.ID, "predict-btn").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "predict-summary").text)
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#predict-table thead th")]
    assert "TPSA (Å²) model" in headers and "TPSA (Å²) RDKit" in headers
    got = rows(browser)
    assert "longer than any training molecule (102 > 72 tokens)" in cell(got[1], "note")
    for line in (1, 2):
        assert cell(got[line], "TPSA-model") == "0.00" and "row-warning" in got[line].get_attribute("class")
        assert "below the least possible (0 Å²): shown as 0" in cell(got[line], "note")
    assert cell(got[3], "note") == "" and float(cell(got[3], "TPSA-model")) > 15
    assert browser.find_element(By.ID, "predict-summary").text.endswith("2 warnings")


def test_a_molecule_drawn_in_the_editor_is_predicted(server, browser, shots):
    from selenium.webdriver.common.action_chains import ActionChains

    from chemrnn.api import PropertyPredictor

    open_tab(browser, server, "predict")
    browser.find_element(By.ID, "smiles-input").clear()
    browser.find_element(By.ID, "editor-toggle").click()
    wait(browser, 30, lambda d: d.execute_script("return !!window.chemrnnEditor"))
    editor = browser.find_element(By.ID, "editor")
    # drawn with the mouse: the aromatic-ring tool of OpenChemLib 9.25's toolbar (second column, the row of the
    # six-membered rings, in a 640 × 380 editor), then a click in the middle of the canvas
    ActionChains(browser).move_to_element_with_offset(editor, -286, 12).click().perform()
    ActionChains(browser).move_to_element_with_offset(editor, 0, 0).click().perform()
    wait(browser, 10, lambda d: d.execute_script("return window.chemrnnEditor.smiles()") == "c1ccccc1")
    browser.find_element(By.ID, "editor-use").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "predict-summary").text.startswith("1 rows"))
    # and one set through the editor's API, as a page embedding it would
    browser.execute_script("window.chemrnnEditor.set('Oc1cccc2ccccc12')")  # 1-naphthol
    drawn = browser.execute_script("return window.chemrnnEditor.smiles()")
    browser.find_element(By.ID, "editor-use").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "predict-summary").text.startswith("2 rows"))
    got = rows(browser)
    assert [got[k].get_attribute("data-smiles") for k in (1, 2)] == ["c1ccccc1", drawn]
    values = PropertyPredictor("shipped").predict(["c1ccccc1", drawn]).values
    assert [cell(got[k], "logP-model") for k in (1, 2)] == [f"{v:.2f}" for v in values[:, 0]]
    screenshot(browser, shots, "editor")


def test_fifty_sampled_molecules_make_a_grid_with_metrics(server, browser, shots):
    open_tab(browser, server, "generate")
    type_into(browser, "gen-n", "50")
    browser.find_element(By.ID, "gen-btn").click()
    wait(browser, 90, lambda d: d.find_element(By.ID, "gen-results").is_displayed())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gen-grid .mol-cell")) == 50
    assert not browser.find_element(By.ID, "gen-progress").is_displayed()  # the bar goes when the job is done
    metrics = {m.get_attribute("data-metric"): m.text for m in browser.find_elements(By.CSS_SELECTOR, ".metric")}
    assert set(metrics) == {"validity", "uniqueness", "novelty"}
    assert "%" in metrics["validity"] and "%" in metrics["uniqueness"]
    assert metrics["novelty"].startswith("novelty vs the training data")
    assert "%" in metrics["novelty"] or "training data not found" in metrics["novelty"]
    assert browser.find_elements(By.CSS_SELECTOR, "#gen-hist svg rect")
    # the histogram's axes: ticks along x, the count scale and its label on y
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gen-hist svg line.x-tick")) >= 3
    assert len(browser.find_elements(By.CSS_SELECTOR, "#gen-hist svg line.y-tick")) == 3
    assert browser.find_element(By.CSS_SELECTOR, "#gen-hist svg text.y-label").text == "molecules"
    assert browser.find_element(By.ID, "gen-explain").text.startswith("Sample new molecules")
    assert browser.find_element(By.ID, "watch-explain").get_attribute("textContent").strip().startswith("Feed a")
    assert "/csv" in browser.find_element(By.ID, "gen-csv").get_attribute("href")
    screenshot(browser, shots, "generate", height=1200)
    # a molecule of the grid, clicked, is watched; the valid ones go to Predict with one button
    first = browser.find_element(By.CSS_SELECTOR, "#gen-grid .mol-cell:not(.invalid)")
    first.click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "watch-results").is_displayed())
    assert browser.find_element(By.ID, "watch-summary").text.startswith(
        browser.find_element(By.ID, "watch-smiles").get_attribute("value") + ":")
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=generate]").click()
    detail = browser.find_element(By.CSS_SELECTOR, ".metric[data-metric=uniqueness] span:last-child").text
    unique = int(detail.split()[0])  # "48 unique valid"
    browser.find_element(By.ID, "gen-predict").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "predict-summary").text.startswith(f"{unique} rows"))


def bar_fill(browser, css: str) -> tuple[float, float]:
    """The computed widths, in px, of a progress bar's filled part and of the whole bar."""
    return tuple(browser.execute_script(
        "const bar = document.querySelector(arguments[0]);"
        "return [parseFloat(getComputedStyle(bar.firstElementChild).width), parseFloat(getComputedStyle(bar).width)]",
        css))


def post(server, path: str, body: dict) -> dict:
    import json
    import urllib.request

    req = urllib.request.Request(server + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=20).read())


def test_progress_bars_fill_as_a_job_runs(server, browser):
    """Generate's bar grows while the job samples, and the jobs table's bar of that job shows how far it got."""
    import json
    import urllib.request

    open_tab(browser, server, "generate")
    type_into(browser, "gen-n", "2000")
    browser.find_element(By.ID, "gen-btn").click()
    wait(browser, 90, lambda d: d.find_element(By.ID, "gen-progress").is_displayed()
         and bar_fill(d, "#gen-progress .bar")[0] > 0)
    filled, whole = bar_fill(browser, "#gen-progress .bar")
    assert 0 < filled <= whole == 240
    job_id = browser.execute_script("return localStorage.getItem('chemrnn.genJob')")
    post(server, f"api/jobs/{job_id}/cancel", {})  # enough: the rest of the 2,000 is not needed
    wait(browser, 60, lambda d: not d.find_element(By.ID, "gen-progress").is_displayed())
    job = json.loads(urllib.request.urlopen(f"{server}api/jobs/{job_id}", timeout=20).read())
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=runs]").click()
    row = f"#jobs-table tr[data-job='{job_id}'] .bar"
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, row))
    wait(browser, 5, lambda d: bar_fill(d, row)[0] > 0)
    filled, whole = bar_fill(browser, row)
    assert job["progress"] > 0 and filled == pytest.approx(whole * job["progress"], abs=1.5)


def test_a_phone_sized_window_needs_no_sideways_scroll(server, browser):
    """At 390 px (a phone) the page is no wider than the window: the results table scrolls inside itself."""
    browser.set_window_size(390, 844)
    try:
        open_tab(browser, server, "predict")
        browser.find_element(By.ID, "example-btn").click()
        browser.find_element(By.ID, "predict-btn").click()
        wait(browser, 30, lambda d: d.find_element(By.ID, "predict-table").is_displayed())
        inner = browser.execute_script("return window.innerWidth")
        for tab in ("predict", "generate", "watch", "runs"):
            browser.find_element(By.CSS_SELECTOR, f"#tabs button[data-tab={tab}]").click()
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= inner, (tab, width, inner)
    finally:
        browser.set_window_size(1280, 900)


def test_watching_the_rnn_shows_softmax_and_gates(server, browser, shots):
    open_tab(browser, server, "watch")
    browser.find_element(By.ID, "watch-btn").click()
    wait(browser, 60, lambda d: d.find_element(By.ID, "watch-results").is_displayed())
    gates = {c.get_attribute("data-gate") for c in browser.find_elements(By.CSS_SELECTOR, "#watch-gates canvas")}
    assert gates == {"f", "i", "o", "c", "h"}
    assert browser.find_elements(By.CSS_SELECTOR, "#softmax-table td.next")
    assert "max |Δh|" in browser.find_element(By.ID, "watch-summary").text
    screenshot(browser, shots, "watch", height=1500)


def test_bad_input_shows_a_message(server, browser):
    open_tab(browser, server, "predict")
    box = type_into(browser, "smiles-input", "CCO")
    browser.find_element(By.ID, "predict-btn").click()
    wait(browser, 30, lambda d: d.find_element(By.ID, "predict-table").is_displayed())
    box.clear()
    browser.find_element(By.ID, "predict-btn").click()
    wait(browser, 20, lambda d: d.find_element(By.ID, "message").is_displayed())
    assert "no SMILES given" in browser.find_element(By.ID, "message").text
    # the error is not shown above the results of the request before it
    assert not browser.find_element(By.ID, "predict-table").is_displayed()
    assert browser.find_element(By.ID, "predict-summary").text == ""
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=generate]").click()
    type_into(browser, "gen-n", "5000")
    browser.find_element(By.ID, "gen-btn").click()
    wait(browser, 20, lambda d: "between 1 and 2000" in d.find_element(By.ID, "message").text)
    browser.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=watch]").click()
    box = type_into(browser, "watch-smiles", "C[Se]C")
    browser.find_element(By.ID, "watch-btn").click()
    wait(browser, 20, lambda d: "cannot read this SMILES" in d.find_element(By.ID, "message").text)
    assert not browser.find_element(By.ID, "watch-results").is_displayed()
    assert "Traceback" not in browser.page_source


def test_a_tiny_finetune_runs_and_is_listed(server, browser, shots, runs):
    open_tab(browser, server, "runs")
    browser.find_element(By.ID, "ft-name").send_keys("ft_tiny")
    for field, value in (("ft-epochs", "1"), ("ft-batch", "4")):
        type_into(browser, field, value)
    browser.find_element(By.ID, "ft-actives").send_keys("\n".join(ACTIVES))
    browser.find_element(By.ID, "ft-btn").click()
    job = "#jobs-table tr[data-kind=finetune]"
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, f"{job}[data-state=running]")
         or d.find_elements(By.CSS_SELECTOR, f"{job}[data-state=finished]"))
    browser.refresh()  # the job survives a reload of the page
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, job))
    wait(browser, 120, lambda d: d.find_elements(By.CSS_SELECTOR, f"{job}[data-state=finished]")
         or d.find_elements(By.CSS_SELECTOR, f"{job}[data-state=failed]"))
    row = browser.find_element(By.CSS_SELECTOR, job)
    assert row.get_attribute("data-state") == "finished", row.text
    filled, whole = bar_fill(browser, f"{job} .bar")
    assert filled == whole > 0  # a finished job's bar is full
    assert (runs / "ft_tiny" / "model" / "model.json").is_file()
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, "#runs-table tr[data-run=ft_tiny]"))
    browser.find_element(By.CSS_SELECTOR, "#runs-table tr[data-run=ft_tiny]").click()
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, "#curve-svg polyline"))
    # a short run's curve: the step axis starts at 0 (not a range made up around its few rows)
    ticks = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#curve-svg text.x-tick-label")]
    assert ticks[0] == "0" and int(ticks[-1]) > 0, ticks
    assert "finished" in browser.find_element(By.CSS_SELECTOR, "#runs-table tr[data-run=ft_tiny]").text
    # the new model is offered for sampling
    options = [o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#gen-model option")]
    assert "run:ft_tiny" in options
    # a long run's learning curve: the shipped prior's training, 377 logged rows
    browser.find_element(By.CSS_SELECTOR, "#runs-table tr[data-run=prior_moses]").click()
    wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, "#curve-svg polyline[data-col=val_nll]"))
    points = browser.find_element(By.CSS_SELECTOR, "#curve-svg polyline[data-col=train_loss]").get_attribute("points")
    assert len(points.split()) == 377
    screenshot(browser, shots, "runs")


def test_the_page_works_under_its_content_security_policy(server):
    """The page's policy (its own scripts only, no inline script or style attribute) breaks nothing: loading it,
    predicting the examples with their depictions, the molecule editor and a watched SMILES raise no violation;
    and the policy is in force (an inline script is refused). Its own browser: the refused script is logged."""
    d = new_browser()
    try:
        d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": (
            "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation',"
            " (e) => window.cspViolations.push(e.effectiveDirective + ' ' + e.blockedURI));")})
        open_tab(d, server, "predict")
        d.find_element(By.ID, "example-btn").click()
        wait(d, 60, lambda d: d.find_element(By.ID, "predict-summary").text)
        wait(d, 20, lambda d: d.execute_script(
            "return [...document.querySelectorAll('#predict-table img')].every(i => i.complete && i.naturalWidth > 0)"))
        d.find_element(By.ID, "editor-toggle").click()
        wait(d, 30, lambda d: d.execute_script("return !!window.chemrnnEditor"))
        d.execute_script("window.chemrnnEditor.set('Oc1cccc2ccccc12')")
        d.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=watch]").click()
        d.find_element(By.ID, "watch-btn").click()
        wait(d, 60, lambda d: d.find_element(By.ID, "watch-results").is_displayed())
        assert d.execute_script("return window.cspViolations") == []
        assert not [e for e in d.get_log("browser") if "Content Security Policy" in e["message"]]
        d.execute_script("const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';"
                         "document.head.append(s);")
        wait(d, 5, lambda d: d.execute_script("return window.cspViolations.length"))
        assert d.execute_script("return window.inlineRan") is None
        assert d.execute_script("return window.cspViolations")[0].startswith("script-src")
    finally:
        d.quit()


def test_the_page_made_no_script_errors(browser):
    """Everything the browser logged as severe in the tests above (a failed request the page handles is not)."""
    entries = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    handled = ("status of 400", "status of 413")  # bad input answered with a message, as tested
    assert not [e for e in entries if not any(h in e["message"] for h in handled)], entries


# ------------------------------------------------------------------------------------------- a server that crashed
def test_jobs_lost_to_a_killed_server_are_said_and_ended_from_the_page(browser, runs, tmp_path):
    """``kill -KILL`` of the server while the page samples and a fine-tune trains, then the server again on the same
    port: the page says the sampling job was lost (while the server is unreachable, and after it is back) and runs
    it again with one button; the fine-tune, still training in its process, is listed so and Cancel on the page
    stops that process; Runs then says cancelled, as Jobs does. (Last in the file: the refused connections are
    logged by the browser.)"""
    import json
    import signal
    import urllib.request
    import zipfile

    from chemrnn.web.jobs import process_start

    folder = tmp_path / "runs"
    with zipfile.ZipFile(ROOT / "tests" / "data" / "lm_schema1.chemrnn") as z:  # a tiny prior: seconds
        z.extractall(folder / "gru_small" / "model")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    path = [str(ROOT / "src")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "CHEMRNN_CACHE_DIR": str(runs.parent / "cache")}
    log = open(tmp_path / "serve.log", "wb")

    def serve():
        proc = subprocess.Popen([sys.executable, "-m", "chemrnn", "serve", "--port", str(port), "--runs", str(folder)],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        t0 = time.time()
        while True:
            try:
                urllib.request.urlopen(url + "api/info", timeout=2).read()
                return proc
            except OSError:
                assert proc.poll() is None and time.time() - t0 < 60, (tmp_path / "serve.log").read_text()
                time.sleep(0.1)

    def post(route, body):
        req = urllib.request.Request(url + route, json.dumps(body).encode(), {"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=60).read())

    server = serve()
    pid = None
    try:
        open_tab(browser, url, "generate")
        type_into(browser, "gen-n", "2000")
        browser.find_element(By.ID, "gen-btn").click()
        ft = post("api/finetune", {"name": "ft", "prior": "run:gru_small", "epochs": 50, "batch_size": 1,
                                   # ~500 actives: epochs long enough that the run outlives the kill and the restart
                                   # on a loaded machine (early stopping would end 59 of them within seconds)
                                   "actives": "\n".join("C" * i + "N" + "C" * j + "O" for i in range(1, 30)
                                                        for j in range(1, 18))})
        record = folder / ".chemrnn-web" / "jobs" / f"{ft['id']}.json"
        wait(browser, 60, lambda d: d.find_element(By.CSS_SELECTOR, "#gen-progress .msg").text.startswith("sampl")
             and record.exists() and json.loads(record.read_text()).get("proc_start"))
        first = browser.execute_script("return localStorage.getItem('chemrnn.genJob')")
        pid = json.loads(record.read_text())["pid"]
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        lost = browser.find_element(By.ID, "gen-lost")
        wait(browser, 20, lambda d: lost.is_displayed() and "cannot be reached" in lost.text)
        assert browser.find_element(By.ID, "gen-again").is_displayed()
        assert browser.find_element(By.ID, "gen-btn").is_enabled()
        assert not browser.find_element(By.ID, "gen-progress").is_displayed()
        server = serve()
        wait(browser, 20, lambda d: "sampling lost: the server stopped before the job ended" in lost.text)
        browser.find_element(By.ID, "gen-again").click()
        wait(browser, 20, lambda d: not lost.is_displayed() and d.find_element(By.ID, "gen-progress").is_displayed())
        again = browser.execute_script("return localStorage.getItem('chemrnn.genJob')")
        assert again and again != first
        assert browser.execute_script("return JSON.parse(localStorage.getItem('chemrnn.genParams')).n") == 2000
        # the fine-tune: still training, listed so, ended from the page
        browser.find_element(By.CSS_SELECTOR, "#tabs button[data-tab=runs]").click()
        row = f"#jobs-table tr[data-job='{ft['id']}']"
        wait(browser, 20, lambda d: d.find_elements(By.CSS_SELECTOR, f"{row}[data-state=running]"))
        assert "earlier server" in browser.find_element(By.CSS_SELECTOR, row).text
        assert process_start(pid) is not None
        browser.find_element(By.CSS_SELECTOR, f"{row} button").click()
        wait(browser, 30, lambda d: d.find_elements(By.CSS_SELECTOR, f"{row}[data-state=cancelled]"))
        assert process_start(pid) is None
        browser.find_element(By.ID, "runs-refresh").click()
        wait(browser, 20, lambda d: "cancelled" in d.find_element(By.CSS_SELECTOR, "#runs-table tr[data-run=ft]").text)
        sampling = f"#jobs-table tr[data-job='{again}']"  # the sampling run again: ended from the page too
        browser.execute_script(f"const b = document.querySelector(\"{sampling} button\"); if (b) b.click();")
        wait(browser, 60, lambda d: d.find_elements(By.CSS_SELECTOR, f"{sampling}[data-state=cancelled], "
                                                                     f"{sampling}[data-state=finished]"))
    finally:
        server.terminate()
        server.wait(30)
        log.close()
        if pid is not None and process_start(pid) is not None:
            os.killpg(pid, signal.SIGKILL)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "Uncaught" in e["message"]]
    assert not errors, errors
