"""The web page at / in a real browser: Debian's chromium, headless, driven
by selenium through chromedriver. Ask a question and watch the answer
stream in; click a citation and see the cited passage highlighted in its
document; search; upload a file and find it; a document carrying HTML and
script is shown as text and runs nothing; a wrong API key shows the
server's error. The page loads nothing from outside the server."""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SKIP, Checks, corpus_and_queries, model_or_skip, run, run_json,  # noqa: E402
                     sanitized, tempdir)
from serve_util import Server  # noqa: E402

try:
    from selenium import webdriver
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (scripts/setup.sh installs it)")
    sys.exit(SKIP)
MODEL = model_or_skip()
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not CHROMIUM or not DRIVER:
    print("SKIP: chromium and chromedriver are not installed (scripts/setup.sh installs them)")
    sys.exit(SKIP)

WAIT = 120 if sanitized() else 30
t = Checks("web")
corpus, _ = corpus_and_queries(extra=("hr/expense-travel-policy.md",))
data = tempdir()
p = run(["model", "import", MODEL], data=data)
t.check(p.returncode == 0, "model import", p.stderr)
p, s = run_json(["ingest", corpus], data=data)
t.check(p.returncode == 0 and s and s["failed"] == 0, "ingest the corpus", p.stderr)
p = run(["key", "create", "web", "--scope", "read,write"], data=data)
KEY = p.stdout.strip()
t.check(p.returncode == 0 and KEY.startswith("rgk_"), "key create", p.stderr)

srv = Server(data, no_auth=False)
opts = webdriver.ChromeOptions()
opts.binary_location = CHROMIUM
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1280,900"):
    opts.add_argument(a)
opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
browser = webdriver.Chrome(service=Service(DRIVER), options=opts)
wait = WebDriverWait(browser, WAIT)
base = f"http://127.0.0.1:{srv.port}/"
try:
    browser.get(base)
    t.check(browser.title == "ragd", "the page loads", browser.title)
    key = browser.find_element(By.ID, "apiKey")
    key.send_keys(KEY)
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", key)

    # ask: the answer streams in, with citations
    q = browser.find_element(By.ID, "question")
    q.send_keys("How many days do I have to submit an expense report?")
    browser.find_element(By.ID, "askBtn").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "Answered from"))
    answer = browser.find_element(By.ID, "answer").text
    t.check("30 days" in answer, "the answer appears on the page", answer)
    links = browser.find_elements(By.CSS_SELECTOR, "#answer a.cite")
    t.check(links and links[0].text == "[1]", "the answer's [1] is a link",
            str([l.text for l in links]))
    sources = browser.find_elements(By.CSS_SELECTOR, "#sources li")
    t.check(sources and "Expense" in sources[0].text, "the sources are listed",
            str([s_.text[:80] for s_ in sources]))
    passage = browser.find_element(By.CSS_SELECTOR, "#sources li .passage").text.strip("\u201c\u201d")
    # click the citation: the document opens with the cited passage marked
    links[0].click()
    wait.until(EC.visibility_of_element_located((By.ID, "docDialog")))
    mark = browser.find_elements(By.CSS_SELECTOR, "#docText mark")
    t.check(mark and mark[0].text == passage and len(passage) > 20,
            "the citation opens its document with the passage marked",
            f"{[m.text[:80] for m in mark]} vs {passage[:80]}")
    t.check("Expense" in browser.find_element(By.ID, "docTitle").text,
            "the cited document's title is shown")
    browser.find_element(By.CSS_SELECTOR, "#docDialog button").click()

    # search
    browser.find_element(By.ID, "tab-search").click()
    browser.find_element(By.ID, "query").send_keys("laptop screen lock")
    browser.find_element(By.ID, "searchBtn").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "results in"))
    items = browser.find_elements(By.CSS_SELECTOR, "#results li")
    t.check(len(items) >= 3 and items[0].find_elements(By.TAG_NAME, "strong"),
            "search lists results with matches in bold", str(len(items)))

    # upload, then find it
    up = os.path.join(tempdir(), "xss-note.md")
    with open(up, "w") as f:
        f.write("# Greenhouse note\n\nThe greenhouse orchid Vandaqwerty is watered on Fridays. "
                "<img src=x onerror=\"document.title='pwned'\"> "
                "<script>document.title='pwned'</script>\n")
    browser.find_element(By.ID, "tab-upload").click()
    browser.find_element(By.ID, "file").send_keys(up)
    browser.find_element(By.ID, "uploadBtn").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "uploadResult"), "Added"))
    t.check("chunk" in browser.find_element(By.ID, "uploadResult").text, "upload reports chunks")
    browser.find_element(By.ID, "tab-search").click()
    box = browser.find_element(By.ID, "query")
    box.clear()
    box.send_keys("When is the orchid Vandaqwerty watered?")
    browser.find_element(By.ID, "searchBtn").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, "#results li"), "Greenhouse"))
    first = browser.find_element(By.CSS_SELECTOR, "#results li a.cite")
    first.click()
    wait.until(EC.visibility_of_element_located((By.ID, "docDialog")))
    time.sleep(0.3)
    text = browser.find_element(By.ID, "docText").text
    t.check("Vandaqwerty" in text, "the uploaded document opens", text[:200])
    try:
        browser.switch_to.alert
        alerted = True
    except NoAlertPresentException:
        alerted = False
    t.check(browser.title == "ragd" and not alerted and
            not browser.find_elements(By.CSS_SELECTOR, "#docText img, #results img, #docText script"),
            "document HTML and script are shown as text and never run", browser.title)
    browser.find_element(By.CSS_SELECTOR, "#docDialog button").click()

    # a wrong key: the server's error is shown
    key = browser.find_element(By.ID, "apiKey")
    key.clear()
    key.send_keys("rgk_" + "0" * 64)
    browser.find_element(By.ID, "searchBtn").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "not valid"))
    t.check("error" in browser.find_element(By.ID, "status").get_attribute("class"),
            "a wrong key shows the server's error")

    # nothing from outside the server
    urls = set()
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.add(msg["params"]["request"]["url"])
    outside = [u for u in urls if not u.startswith(base) and not u.startswith("data:")]
    t.check(urls and not outside, "the page requests nothing outside the server", str(outside))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and
              "401" not in e["message"]]
    t.check(not errors, "no script errors in the console", str(errors)[:300])
finally:
    browser.quit()
    rc = srv.stop()
t.check(rc == 0, "the server stops cleanly", str(rc))
t.done()
