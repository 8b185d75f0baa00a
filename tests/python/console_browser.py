#!/usr/bin/env python3
"""The web console (/console) in a real browser: Debian's Chromium, headless, driven by Selenium
through chromium-driver, against a real stack. Usage:
  console_browser.py BASE_URL TOKEN ACCOUNT INDEX_SVC_PID SCREENSHOT_DIR OPEN_BASE_URL
(OPEN_BASE_URL: a second gateway on the same services with no token, the open loopback mode)
A person's path end to end, hostile metadata, the failure messages (wrong token, a model that is
not loaded, a dead index-svc), keyboard-only use and the live charts; every step asserts what
the page shows, prints one line, and the first failure exits non-zero (with a screenshot)."""
import gzip
import json
import os
import random
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

base, token, account, index_pid, shots, open_base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
os.makedirs(shots, exist_ok=True)
DIMS = 384
MODEL = "@strato/all-minilm-l6-v2"
started = time.monotonic()


def step(s):
    print(f"ok {time.monotonic() - started:6.1f}s {s}", flush=True)


def rest(method, path, body=None, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900",
              "--no-first-run", "--disable-extensions", "--disable-background-networking", "--lang=en-US"]:
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.set_page_load_timeout(30)
    return d


d = browser()
wait = WebDriverWait(d, 20, poll_frequency=0.1)


def find(css):
    return wait.until(lambda d: d.find_element(By.CSS_SELECTOR, css))


def until_text(css, *parts, timeout=20):
    """Waits until the element's text holds every part; returns the text."""
    last = [""]

    def ok(d):
        try:
            last[0] = d.find_element(By.CSS_SELECTOR, css).text
        except Exception:
            return False
        return all(p in last[0] for p in parts)
    try:
        WebDriverWait(d, timeout, poll_frequency=0.1).until(ok)
    except Exception:
        raise AssertionError(f"{css} never showed {parts}; it shows: {last[0]!r}")
    return last[0]


def go(hash_):
    d.get(f"{base}/console#{hash_}")


def shot(name):
    d.save_screenshot(os.path.join(shots, f"{name}.png"))


def typed(css, text, clear=True):
    el = find(css)
    if clear:
        el.clear()
    el.send_keys(text)
    return el


def no_script_ran():
    pwned = d.execute_script("return window.__pwned === undefined ? null : String(window.__pwned)")
    assert pwned is None, f"a stored string ran as script: {pwned}"
    overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the window"


def page_errors():
    """CSP violations and uncaught script errors from the browser's console (failed fetches are
    expected: the failure steps cause them)."""
    bad = []
    for e in d.get_log("browser"):
        m = e.get("message", "")
        if "Content Security Policy" in m or "Uncaught" in m or "SyntaxError" in m or "TypeError" in m:
            bad.append(m)
    return bad


try:
    # --- The files: the policy, and the weight of a first load ------------------------------
    with urllib.request.urlopen(base + "/console", timeout=10) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, csp
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    go("/")
    find("#token")
    urls = d.execute_script("return [location.href.split('#')[0]].concat(performance.getEntriesByType('resource').filter(e => e.initiatorType !== 'fetch').map(e => e.name))")
    raw = packed = 0
    for u in sorted(set(urls)):
        assert u.startswith(base), f"the console loaded {u} from elsewhere"
        with urllib.request.urlopen(u, timeout=10) as r:
            body = r.read()
        raw += len(body)
        packed += len(gzip.compress(body, 9))
    assert packed < 150 * 1024, f"first load is {packed} bytes gzipped"
    step(f"first load: {len(set(urls))} files, {raw / 1024:.1f} KiB, {packed / 1024:.1f} KiB gzipped; CSP {csp!r}")

    # --- The open mode (no token configured, loopback only): no sign-in ----------------------
    req = urllib.request.Request(f"{open_base}/client/v4/accounts/{account}/vectorize/v2/indexes", method="POST",
                                 data=json.dumps({"name": "open-one", "config": {"dimensions": 32, "metric": "cosine"}}).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    d.get(f"{open_base}/console")
    until_text("h1", f"Indexes of {account}")
    until_text("#who", "Open mode")
    until_text("#index-list", "open-one")
    assert d.execute_script("return sessionStorage.getItem('strato.console.token')") is None
    d.get(f"{open_base}/console#/index/open-one")
    typed("#confirm-name", "open-one")
    find("#delete-index").click()
    wait.until(lambda d: "open-one" not in d.find_element(By.CSS_SELECTOR, "#index-list").text and "Indexes of" in d.find_element(By.TAG_NAME, "h1").text)
    step("open mode: straight to the indexes, no token asked for; a write (delete) passes the open mode's rules")

    # --- Sign-in: a wrong token is refused in words, the right one by keyboard alone ---------
    go("/")
    typed("#token", "not-the-token" + Keys.ENTER)
    until_text("#signin-out", "That token was refused", "10000")
    assert d.execute_script("return sessionStorage.getItem('strato.console.token')") is None
    shot("signin-refused")
    step("a wrong token: 'That token was refused (code 10000)', nothing stored")
    typed("#token", token + Keys.ENTER)
    until_text("h1", f"Indexes of {account}")
    assert token not in d.current_url and not d.get_cookies()
    assert d.execute_script("return sessionStorage.getItem('strato.console.token')") == token
    step("signed in with Enter; the token is in session storage only (no URL, no cookie)")

    # --- Keyboard alone: from the heading, Tab to the create form and create an index --------
    name = "console-docs"
    active = lambda: d.execute_script("return document.activeElement && document.activeElement.id")  # noqa: E731
    for _ in range(40):
        if active() == "new-name":
            break
        d.switch_to.active_element.send_keys(Keys.TAB)
    assert active() == "new-name", f"Tab never reached the name field (at {active()!r})"
    d.switch_to.active_element.send_keys(Keys.TAB)  # the preset select: bge-small (384, cosine)
    assert active() == "new-preset", active()
    d.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
    d.switch_to.active_element.send_keys(name + Keys.ENTER)  # Enter in a field submits its form
    until_text("#create-out", f"Created {name}")
    until_text("#index-list", name, "384", "cosine")
    step("keyboard only: Tab to the form, type, Enter creates the index; the list shows it")

    # --- A metadata index on genre, before the vectors come (filters use indexed properties) ---
    d.find_element(By.LINK_TEXT, name).click()
    until_text("h1", f"Index {name}")
    until_text("#no-meta", "No metadata index")
    typed("#meta-property", "genre" + Keys.ENTER)
    until_text("#meta-list", "genre", "string")
    step("metadata index on genre created and listed")

    # --- Insert texts: embedded and upserted, mutation id at the end --------------------------
    go(f"/insert/{name}")
    texts = ["The quick brown fox jumps over the lazy dog", "A recipe for sourdough bread with a long rise",
             "Stock markets fell sharply on Monday", "How to repair a flat bicycle tyre", "Whales sing to each other across oceans"]
    typed("#texts", "\n".join(texts))
    Select(find("#model")).select_by_value(MODEL)
    until_text("#model-note", "loaded")
    find("#texts-out")
    d.find_element(By.CSS_SELECTOR, "#texts").find_element(By.XPATH, "./ancestor::form").submit()
    done = until_text("#texts-done", "Upserted 5 vectors", "mutation")
    shot("insert")
    step(f"insert texts: {done}")

    # --- An NDJSON file of vectors, with genres, through the progress bar ---------------------
    rnd = random.Random(7)
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for i in range(1500):
            v = [rnd.uniform(-1, 1) for _ in range(DIMS)]
            f.write(json.dumps({"id": f"file-{i}", "values": v, "metadata": {"genre": "drama" if i % 3 == 0 else "comedy", "n": i}}) + "\n")
        path = f.name
    size = os.path.getsize(path)
    find("#ndjson-file").send_keys(path)
    find("#ndjson-file").find_element(By.XPATH, "./ancestor::form").submit()
    done = until_text("#file-out", "Upserted 1500 lines", "mutation", timeout=60)
    bar = d.execute_script("const b = document.getElementById('file-progress'); return [b.value, b.max]")
    assert bar[0] == bar[1] == size, bar
    step(f"NDJSON file ({size >> 20} MiB, {1500} vectors): progress reached {bar[0]}/{bar[1]} bytes; {done}")

    # --- A file of more small vectors than one call takes: sent in runs of whole lines --------
    rest("POST", f"/client/v4/accounts/{account}/vectorize/v2/indexes", {"name": "small", "config": {"dimensions": 32, "metric": "euclidean"}})
    with tempfile.NamedTemporaryFile("w", suffix=".ndjson", delete=False) as f:
        for i in range(6000):
            f.write(json.dumps({"id": f"s{i}", "values": [round(rnd.uniform(-1, 1), 2) for _ in range(32)]}) + "\n")
            if i == 2500:
                f.write("\n")  # a blank line is no vector
        small = f.name
    go("/insert/small")
    find("#ndjson-file").send_keys(small)
    find("#ndjson-file").find_element(By.XPATH, "./ancestor::form").submit()
    done = until_text("#file-out", "Upserted 6000 lines", timeout=60)
    assert rest("GET", f"/client/v4/accounts/{account}/vectorize/v2/indexes/small/info")["result"]["vectorCount"] == 6000
    step(f"6000 small vectors ({os.path.getsize(small) >> 10} KiB, over 5000 a call): all written; {done}")

    # --- Search: the right neighbour first, both steps timed ----------------------------------
    go(f"/search/{name}")
    typed("#query-text", "fixing a punctured bike wheel")
    Select(find("#model")).select_by_value(MODEL)
    Select(find("#metadata-level")).select_by_value("all")
    find("#query-text").send_keys(Keys.ENTER)
    until_text("#results", "embed", "query", "ms")
    first = find("#results tbody tr td.match-id").text
    assert first == "doc-4", f"the tyre text should come first, got {first}"
    timings = find("#timings").text
    shot("search")
    step(f"search: doc-4 first; '{timings}'")

    # --- Filter: checked before sending; Cloudflare's error shown; a good one applied ---------
    typed("#filter", '{"genre": ')
    until_text("#filter-note", "not valid JSON")
    find("#query-text").send_keys(Keys.ENTER)
    until_text("#filter-note", "not valid JSON")
    assert not d.find_elements(By.CSS_SELECTOR, "#results table"), "a broken filter was sent"
    typed("#filter", '{"genre": {"$near": "drama"}}')
    find("#query-text").send_keys(Keys.ENTER)
    refused = until_text("#results .error", "The query was refused", "code")
    typed("#filter", '{"genre": {"$eq": "drama"}}')
    find("#query-text").send_keys(Keys.ENTER)
    until_text("#results", "matches")
    cells = [c.text for c in d.find_elements(By.CSS_SELECTOR, "#results tbody tr td:last-child")]
    assert cells and all('"genre":"drama"' in c for c in cells), cells
    step(f"filter: bad JSON held back, the API's refusal shown ({refused!r}), $eq applied to {len(cells)} matches")

    # --- Browse: pages, a vector's record, more like this --------------------------------------
    go(f"/index/{name}")
    until_text("#vector-count", "1505")
    until_text("#page-info", "Page 1", "1505 vectors")
    first_page = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#vectors tbody tr")]
    assert len(first_page) == 20, len(first_page)
    find("#next-page").click()
    until_text("#page-info", "Page 2")
    second = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#vectors tbody tr")]
    assert second and second != first_page
    d.find_elements(By.CSS_SELECTOR, "#vectors .vector-open")[0].click()
    vid = until_text("#detail-id", "")
    meta = find("#detail-metadata").text
    assert "genre" in meta or "text" in meta, meta
    find("#more-like-this").send_keys(Keys.ENTER)
    until_text("#similar", "query")
    top = find("#similar tbody tr td.match-id").text
    assert top == vid, f"a vector's nearest is itself: {top} != {vid}"
    shot("browse")
    step(f"browse: page 1 and 2 differ; {vid}'s record; more like this puts it first")

    go("/indexes")
    until_text("#index-list", name, "1505")
    shot("indexes")
    step("the list counts 1505 vectors")

    # --- Metadata index: delete ----------------------------------------------------------------
    go(f"/index/{name}")
    until_text("#meta-list", "genre", "string")
    find('[aria-label="Delete metadata index genre"]').click()
    until_text("#no-meta", "No metadata index")
    step("metadata index on genre deleted")

    # --- A model that is only known: said before and after trying --------------------------------
    go(f"/search/{name}")
    Select(find("#model")).select_by_value("@cf/baai/bge-base-en-v1.5")
    until_text("#model-note", "not loaded")
    typed("#query-text", "anything" + Keys.ENTER)
    msg = until_text("#results .error", "Could not embed with @cf/baai/bge-base-en-v1.5")
    shot("model-not-loaded")
    step(f"a model not loaded: {msg!r}")

    # --- Hostile metadata, stored through the API, shown as text ---------------------------------
    rest("POST", f"/client/v4/accounts/{account}/vectorize/v2/indexes", {"name": "hostile", "config": {"dimensions": DIMS, "metric": "cosine"}})
    # As deep as Vectorize stores: one nested object level, arrays of strings in it.
    deep = {"b": "<img src=x onerror=window.__pwned=5>", "list": ["<b>bold?</b>", "<iframe src=x>", "&amp;&lt;"] * 20}
    evil = [
        {"id": "<img src=x onerror=window.__pwned=1>", "namespace": "\"><svg onload=window.__pwned=2>",
         "metadata": {"html": "<img src=x onerror=window.__pwned=3>", "close": "</script><script>window.__pwned=4</script>"}},
        {"id": "x" * 64, "namespace": "n" * 64, "metadata": {"long": "W" * 9000, "deep": deep}},
        {"id": "plain", "metadata": {"style": "<style>body{display:none}</style>", "link": "javascript:window.__pwned=6"}},
    ]
    rows = []
    for i, r in enumerate(evil):
        r["values"] = [rnd.uniform(-1, 1) for _ in range(DIMS)]
        rows.append(json.dumps(r))
    try:
        rest("POST", f"/client/v4/accounts/{account}/vectorize/v2/indexes/hostile/upsert", "\n".join(rows).encode(), "application/x-ndjson")
    except urllib.error.HTTPError as e:
        raise AssertionError(f"the API refused the hostile rows: {e.read()!r}")
    go("/index/hostile")
    until_text("#vectors", "<img src=x onerror=window.__pwned=1>", "</script><script>")
    for b in d.find_elements(By.CSS_SELECTOR, "#vectors .vector-open"):
        b.click()
        find("#detail-metadata")
        no_script_ran()
    until_text("#vector-detail", "")
    shot("hostile")
    go("/search/hostile")
    typed("#query-text", "anything" + Keys.ENTER)
    until_text("#results", "matches")
    until_text("#results", "onerror")
    no_script_ran()
    assert not d.find_elements(By.CSS_SELECTOR, "#results img, #vectors img, #results svg, script:not([src])")
    step("hostile ids, namespaces and metadata (markup, </script>, 9000 chars, a nested object) shown as text: nothing ran, nothing overflowed")

    # --- Delete the index behind a typed confirmation -----------------------------------------
    go(f"/index/{name}")
    assert find("#delete-index").get_attribute("disabled") is not None
    typed("#confirm-name", name[:-1])
    assert find("#delete-index").get_attribute("disabled") is not None
    typed("#confirm-name", name)
    find("#delete-index").click()
    until_text("h1", "Indexes of")
    wait.until(lambda d: name not in d.find_element(By.CSS_SELECTOR, "#index-list").text and "hostile" in d.find_element(By.CSS_SELECTOR, "#index-list").text)
    step("delete: refused until the name is typed; then gone from the list")

    # --- Navigation faster than the pages load: no page drawn under another, no timer left ------
    d.execute_script("location.hash = '#/health'; setTimeout(() => { location.hash = '#/search'; setTimeout(() => { location.hash = '#/indexes'; }, 0); }, 0)")
    until_text("h1", "Indexes of")
    time.sleep(1)
    polls = lambda: d.execute_script("return performance.getEntriesByType('resource').filter(e => e.name.includes('/__strato/summary')).length")  # noqa: E731
    before = polls()
    time.sleep(4)
    assert polls() == before, "the Health page's timer outlived it"
    assert not d.find_elements(By.CSS_SELECTOR, "#query-text, #services"), "a late page was drawn under Indexes"
    d.execute_script("location.hash = '#/constructor'")
    until_text("h1", "Indexes of")
    d.execute_script("location.hash = '#/index/%E0'")
    until_text("h1", "Index")
    go("/indexes")
    until_text("h1", "Indexes of")
    step("fast navigation: the late pages and the Health timer are dropped; odd hashes land on a page")

    # --- Health: services, the model, and charts that move --------------------------------------
    go("/health")
    until_text("#services", "embedder", "index", "serving")
    until_text("#ai-model", MODEL)
    points = lambda: int(d.find_element(By.CSS_SELECTOR, "#chart-rps svg").get_attribute("data-points"))  # noqa: E731
    before = points()
    WebDriverWait(d, 20, poll_frequency=0.5).until(lambda d: points() >= before + 2)
    now = until_text("#now", "requests/s", "p50")
    poly = find("#chart-latency polyline").get_attribute("points")
    assert poly.count(",") >= 2, poly
    shot("health")
    step(f"health: both services serving, charts went from {before} to {points()} points; '{now}'")

    # --- A dead index-svc: clear words, not a blank page ------------------------------------------
    os.kill(index_pid, signal.SIGKILL)
    until_text("#services", "down", timeout=15)
    go("/indexes")
    msg = until_text("#index-list .error", "Could not list the indexes")
    shot("index-down")
    step(f"index-svc killed: health says down; the list says {msg!r}")

    errors = page_errors()
    assert not errors, errors
    step("no script error and no CSP violation in the browser's console")
    print(f"all steps passed in {time.monotonic() - started:.1f}s", flush=True)
except Exception:
    try:
        shot("failure")
        print("page text at failure:\n" + d.find_element(By.TAG_NAME, "body").text[:3000], file=sys.stderr)
        print("browser console:", json.dumps(d.get_log("browser"))[:3000], file=sys.stderr)
    finally:
        d.quit()
    raise
d.quit()
