//! The web admin in a real browser: headless Chromium driven over WebDriver
//! (`chromedriver`, Debian's `chromium` and `chromium-driver`, installed with apt-get when
//! missing, as `.ci/run` does). A team lead logs in, creates a `slow` action with the form
//! and sees the demo app inject it (its fault count rises), bulk-disables two actions,
//! runs an exercise to its reveal, starts and ends a storm; notes are shown as text.
//! Screenshots of the main pages are saved under the test's temporary directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{DemoApp, TestStore, admin_ok, binary, http_request, poll};
use fantoccini::{Client, ClientBuilder, Locator};

const TOKEN: &str = "browser-token-0123456789";

/// Chromium and its WebDriver, installed when missing.
fn chromium() -> (PathBuf, PathBuf) {
    let browser = PathBuf::from("/usr/bin/chromium");
    let driver = PathBuf::from("/usr/bin/chromedriver");
    if !(browser.exists() && driver.exists()) {
        let install = |update: bool| {
            if update {
                let _ = Command::new("apt-get").arg("update").status();
            }
            Command::new("apt-get")
                .args(["install", "-y", "chromium", "chromium-driver"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(
            install(false) || install(true),
            "Chromium is needed: apt-get install -y chromium chromium-driver (as root) failed"
        );
    }
    (browser, driver)
}

/// A child process killed on drop.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `chaos-admin serve` with the token on `port`.
fn serve(database_url: &str, port: u16) -> Process {
    let child = Command::new(binary("chaos-admin"))
        .args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .env("CHAOS_ADMIN_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chaos-admin serve starts");
    poll("chaos-admin serve to listen", || {
        http_request(port, "GET", "/login", &[]).ok().map(|_| ())
    });
    Process(child)
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
}

/// Types `value` into the field `css` selects (replacing what is there).
async fn fill(client: &Client, css: &str, value: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("field {css}: {err}"));
    field.clear().await.expect("clear");
    field.send_keys(value).await.expect("type");
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"))
        .click()
        .await
        .expect("click");
}

async fn body_text(client: &Client) -> String {
    match client.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        // Between two pages (a form was just submitted).
        Err(_) => String::new(),
    }
}

/// Waits until an element `css` selects is on the page (after following a link).
async fn wait_for_css(client: &Client, css: &str) {
    let started = std::time::Instant::now();
    while client.find(Locator::Css(css)).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{css} did not show within 15 s: {}",
            body_text(client).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page shows `needle` (a submitted form's next page may not be there
/// yet when `click` returns); returns the page's text, or panics after 15 s with it.
async fn wait_for_text(client: &Client, needle: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        let text = body_text(client).await;
        if text.contains(needle) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{needle:?} did not show within 15 s: {text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_team_lead_runs_a_game_day_in_chromium() {
    let (browser, driver) = chromium();
    let store = TestStore::sqlite();
    let demo = DemoApp::start(store.url());
    admin_ok(
        store.url(),
        &[
            "create",
            "abort",
            "checkout",
            "--note",
            "<img src=x onerror=alert(1)>",
            "--no-wait",
        ],
    );
    let port = free_port();
    let _server = serve(store.url(), port);
    let driver_port = free_port();
    let _driver = Process(
        Command::new(&driver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    // (chromedriver keeps connections open: a connect is the readiness check.)
    poll("chromedriver to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", driver_port))
            .ok()
            .map(|_| ())
    });
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let profile = tempfile::tempdir().expect("profile dir");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            serde_json::json!({
                "binary": browser,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1400,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("a WebDriver session");
        let base = format!("http://127.0.0.1:{port}");

        // Log in.
        client
            .goto(&format!("{base}/"))
            .await
            .expect("open the admin");
        fill(&client, "[name=name]", "Lead").await;
        fill(&client, "[name=token]", TOKEN).await;
        click(&client, "button[type=submit]").await;
        let text = wait_for_text(&client, "operator: Lead").await;
        // The note is text, not an element.
        assert!(text.contains("<img src=x onerror=alert(1)>"), "{text}");
        assert!(
            client
                .find_all(Locator::Css("main img"))
                .await
                .expect("query")
                .is_empty()
        );

        // A slow action through the form; the demo injects it.
        click(&client, "a[href='/actions/new']").await;
        wait_for_css(&client, "form.create [name=target]").await;
        screenshot(&client, &shots, "new-action").await;
        fill(&client, "form.create [name=target]", "items").await;
        fill(&client, "form.create [name=min]", "50ms").await;
        fill(&client, "form.create [name=max]", "50ms").await;
        click(&client, "form.create button[type=submit]").await;
        wait_for_text(&client, "Action created.").await;
        poll("the demo to inject the slow action", || {
            (demo.get("/items").status == 200).then_some(())?;
            let listed = http_request(
                port,
                "GET",
                "/api/v1/actions?verb=slow",
                &[("Authorization", &format!("Bearer {TOKEN}"))],
            )
            .ok()?;
            let total = listed.json()["actions"][0]["fired"]["total"].as_u64()?;
            (total >= 1).then_some(())
        });
        client.goto(&format!("{base}/")).await.expect("reload");
        screenshot(&client, &shots, "actions").await;

        // Bulk-disable both actions.
        for checkbox in client
            .find_all(Locator::Css("input[name=ids]"))
            .await
            .expect("checkboxes")
        {
            checkbox.click().await.expect("tick");
        }
        click(&client, "fieldset.bulk-ops button[value=disable]").await;
        wait_for_text(&client, "Disabled 2 actions.").await;

        // An exercise to its reveal, then a storm started and ended.
        click(&client, "a[href='/gameday']").await;
        wait_for_css(&client, "form[action='/exercise'] [name=faults]").await;
        fill(&client, "form[action='/exercise'] [name=faults]", "2").await;
        fill(&client, "form[action='/exercise'] [name=seed]", "3").await;
        click(&client, "form[action='/exercise'] button[type=submit]").await;
        wait_for_text(&client, "2 hidden faults").await;
        click(&client, "form[action='/exercise/hint'] button").await;
        wait_for_text(&client, "hint 1 of 2").await;
        click(&client, "form[action='/exercise/reveal'] button").await;
        wait_for_text(&client, "The faults are revealed").await;
        screenshot(&client, &shots, "gameday").await;
        click(&client, "form[action='/exercise/end'] button").await;
        wait_for_text(&client, "Exercise ended").await;
        fill(&client, "form[action='/storm'] [name=users]", "alice").await;
        click(&client, "form[action='/storm'] button[type=submit]").await;
        wait_for_text(&client, "Storm started").await;
        click(&client, "form[action='/storm/end'] button").await;
        wait_for_text(&client, "Storm ended").await;

        // A form on another site that posts to the admin is refused: nothing is deleted.
        let attack = format!(
            "data:text/html,<form method=post action='{base}/actions/bulk'><input name=ids value=1><input name=op value=delete></form><script>document.forms[0].submit()</script>"
        );
        client.goto(&attack).await.expect("open the other site's page");
        // The strict cookie does not go along: the admin answers with its login form.
        wait_for_text(&client, "Token").await;
        let still = http_request(
            port,
            "GET",
            "/api/v1/actions/1",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
        .expect("GET action 1");
        assert_eq!(still.status, 200, "the cross-site form deleted action 1");
        client.goto(&format!("{base}/gameday")).await.expect("back to the admin");

        // The kill switch asks first.
        click(&client, "a.kill").await;
        wait_for_text(&client, "Disable every chaos action now?").await;
        screenshot(&client, &shots, "kill-switch").await;
        click(&client, "a[href='/instances']").await;
        wait_for_text(&client, "App instances").await;
        screenshot(&client, &shots, "instances").await;
        client.close().await.expect("close the session");
    });
    for name in [
        "new-action",
        "actions",
        "gameday",
        "kill-switch",
        "instances",
    ] {
        assert!(shots.join(format!("{name}.png")).exists(), "{name}.png");
    }
}
