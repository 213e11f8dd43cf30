//! The web admin over real sockets: `chaos-admin serve` (token, login, bearer, CSRF,
//! escaping, hidden exercise faults, the API's errors being the CLI's) and the demo app's
//! embedded admin at `/chaos` behind its Basic login, driving a real fault.

use std::process::Command;

use e2e::{AdminServer, DemoApp, TestStore, admin, admin_ok, binary, http_request_with_body, poll};

const TOKEN: &str = "e2e-token-0123456789abcdef";

/// `chaos-admin serve` with the admin token (if any).
struct Server;

impl Server {
    fn start(database_url: &str, token: Option<&str>) -> AdminServer {
        let env: Vec<(&str, &str)> = token
            .map(|t| ("CHAOS_ADMIN_TOKEN", t))
            .into_iter()
            .collect();
        AdminServer::start(database_url, "127.0.0.1:0", &env)
    }
}

/// An API call with the bearer token.
fn api(server: &AdminServer, method: &str, path: &str, body: &str) -> e2e::HttpResponse {
    let bearer = format!("Bearer {TOKEN}");
    server.request(
        method,
        path,
        &[
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/json"),
            ("X-Chaos-Operator", "e2e-lead"),
        ],
        body,
    )
}

fn header<'a>(response: &'a e2e::HttpResponse, name: &str) -> Vec<&'a str> {
    response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn every_route_of_the_openapi_document_needs_the_token() {
    let store = TestStore::sqlite();
    let server = Server::start(store.url(), Some(TOKEN));
    let document = api(&server, "GET", "/api/v1/openapi.json", "");
    assert_eq!(document.status, 200, "{}", document.body);
    let document = document.json();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().cloned().unwrap_or_default();
    assert!(paths.len() >= 14, "{paths:?}");
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "{document}"
    );
    let mut walked = 0;
    for (path, operations) in &paths {
        let concrete = path.replace("{id}", "1").replace("{op}", "disable");
        for method in operations.as_object().into_iter().flatten().map(|(m, _)| m) {
            let method = method.to_ascii_uppercase();
            let response = server.request(&method, &concrete, &[], "");
            assert_eq!(
                response.status, 401,
                "{method} {concrete}: {}",
                response.body
            );
            walked += 1;
        }
    }
    assert!(walked >= 17, "{walked} operations");
    // Every API route the router serves is in the document.
    for (method, path) in chaos_middleware::admin::ROUTES {
        if !path.starts_with("/api/v1/") || *path == "/api/v1/openapi.json" {
            continue;
        }
        let documented = paths.keys().any(|p| {
            let pattern = p.replace("{id}", "1").replace("{op}", "enable");
            pattern == *path || p.replace("{id}", "1").replace("{op}", "disable") == *path
        });
        assert!(documented, "{method} {path} is not in the OpenAPI document");
    }
}

#[test]
fn no_route_is_reachable_without_the_token() {
    let store = TestStore::sqlite();
    admin_ok(
        store.url(),
        &["create", "return", "items", "503", "--no-wait"],
    );
    let server = Server::start(store.url(), Some(TOKEN));
    for (method, path) in chaos_middleware::admin::ROUTES {
        let response = server.request(method, path, &[], "");
        assert_eq!(response.status, 401, "{method} {path}: {}", response.body);
        let wrong = server.request(
            method,
            path,
            &[("Authorization", "Bearer wrong-token-0000000000")],
            "",
        );
        assert_eq!(wrong.status, 401, "{method} {path} with a wrong token");
    }
    // Nothing was changed by all those requests.
    let listed = admin_ok(store.url(), &["list", "--json"]);
    assert!(
        listed.contains("\"enabled\": true") || listed.contains("\"enabled\":true"),
        "{listed}"
    );
    // The API says why in JSON; a page shows the login form.
    let api = server.request("GET", "/api/v1/actions", &[], "");
    assert!(api.body.contains("\"error\""), "{}", api.body);
    assert_eq!(header(&api, "www-authenticate"), ["Bearer"]);
    let page = server.request("GET", "/", &[], "");
    assert!(page.body.contains("name=\"token\""), "{}", page.body);
}

#[test]
fn without_a_token_only_loopback_host_names_get_in() {
    let store = TestStore::sqlite();
    let server = Server::start(store.url(), None);
    let local = server.request("GET", "/api/v1/actions", &[], "");
    assert_eq!(local.status, 200, "{}", local.body);
    // A page of another site that a DNS name points at 127.0.0.1 (DNS rebinding).
    let rebound = server.request(
        "POST",
        "/api/v1/kill-switch",
        &[
            ("Host", "evil.example:8900"),
            ("Sec-Fetch-Site", "same-origin"),
        ],
        "",
    );
    assert_eq!(rebound.status, 421, "{}", rebound.body);
    for response in [&local, &rebound] {
        assert!(!header(response, "content-security-policy").is_empty());
    }
}

#[test]
fn a_non_loopback_address_needs_a_token() {
    let store = TestStore::sqlite();
    let output = admin(store.url(), &["serve", "--bind", "0.0.0.0:0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    for (token, why) in [
        ("short", "allowed are 16 to 256"),
        ("abc;def ghi=jkl,mno\"pq", "visible ASCII"),
        ("ééééééééééééééééé", "visible ASCII"),
    ] {
        let refused = Command::new(binary("chaos-admin"))
            .args(["serve", "--database-url", store.url()])
            .env("CHAOS_ADMIN_TOKEN", token)
            .output()
            .expect("runs");
        assert_eq!(refused.status.code(), Some(2), "{token}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(why), "{token}: {stderr}");
    }
}

#[test]
fn the_api_manages_actions_with_the_cli_s_rules() {
    let store = TestStore::sqlite();
    let server = Server::start(store.url(), Some(TOKEN));
    let created = api(
        &server,
        "POST",
        "/api/v1/actions",
        r#"{"verb": "slow", "target": "items", "min": "200ms", "max": "1s", "probability": "50%", "users": ["alice"]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["id"].as_i64().expect("id");
    assert_eq!(created.json()["action"]["probability"], 0.5);
    assert_eq!(created.json()["action"]["created_by"], "e2e-lead");

    // The same invalid input gets the same message from the API and the CLI.
    let invalid = api(
        &server,
        "POST",
        "/api/v1/actions",
        r#"{"verb": "slow", "target": "items", "min": "2s", "max": "1s"}"#,
    );
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let cli = admin(
        store.url(),
        &["create", "slow", "items", "2s", "1s", "--no-wait"],
    );
    assert_eq!(cli.status.code(), Some(2));
    let message = invalid.json()["error"].as_str().expect("error").to_owned();
    assert!(
        String::from_utf8_lossy(&cli.stderr).contains(&message),
        "API {message:?} vs CLI {:?}",
        String::from_utf8_lossy(&cli.stderr)
    );
    for (body, status) in [
        (
            r#"{"verb": "return", "target": "items", "status": "700"}"#,
            422,
        ),
        (r#"{"verb": "explode", "target": "items"}"#, 422),
        (
            r#"{"verb": "abort", "target": "items", "colour": "red"}"#,
            400,
        ),
        ("not json", 400),
    ] {
        let response = api(&server, "POST", "/api/v1/actions", body);
        assert_eq!(response.status, status, "{body}: {}", response.body);
        assert!(response.json()["error"].is_string());
    }

    let listed = api(&server, "GET", "/api/v1/actions?user=alice&verb=slow", "");
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["total"], 1);
    let bad_filter = api(&server, "GET", "/api/v1/actions?state=sleepy", "");
    assert_eq!(bad_filter.status, 400, "{}", bad_filter.body);

    let disabled = api(
        &server,
        "POST",
        &format!("/api/v1/actions/{id}/disable"),
        "",
    );
    assert_eq!(disabled.json()["changed"], 1);
    let missing = api(&server, "POST", "/api/v1/actions/999/disable", "");
    assert_eq!(missing.status, 404, "{}", missing.body);
    let two = api(
        &server,
        "POST",
        "/api/v1/actions",
        r#"{"verb": "abort", "target": "checkout"}"#,
    );
    let other = two.json()["id"].as_i64().expect("id");
    let bulk = api(
        &server,
        "POST",
        "/api/v1/actions/bulk",
        &format!(r#"{{"ids": [{id}, {other}], "op": "enable"}}"#),
    );
    // The other one was enabled already: a no-op is not counted.
    assert_eq!(bulk.json()["changed"], 1, "{}", bulk.body);
    let many: Vec<String> = (1..=1001).map(|i| i.to_string()).collect();
    let too_many = api(
        &server,
        "POST",
        "/api/v1/actions/bulk",
        &format!(r#"{{"ids": [{}], "op": "disable"}}"#, many.join(",")),
    );
    assert_eq!(too_many.status, 422, "{}", too_many.body);
    assert!(
        too_many.body.len() < 400,
        "the message does not echo every id"
    );
    let lower = server.request(
        "GET",
        "/api/v1/actions",
        &[("Authorization", &format!("bearer {TOKEN}"))],
        "",
    );
    assert_eq!(lower.status, 200, "the scheme is case-insensitive");
    let killed = api(&server, "POST", "/api/v1/kill-switch", "");
    assert_eq!(killed.json()["disabled"], 2);
    let deleted = api(&server, "DELETE", &format!("/api/v1/actions/{id}"), "");
    assert_eq!(deleted.json()["deleted"], 1);
    assert_eq!(
        api(&server, "GET", &format!("/api/v1/actions/{id}"), "").status,
        404
    );

    let audit = api(&server, "GET", "/api/v1/audit", "");
    let entries = audit.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(entries.len() >= 5, "{}", audit.body);
    assert!(
        entries.iter().all(|e| e["actor"] == "e2e-lead"),
        "{}",
        audit.body
    );
    let creates = api(&server, "GET", "/api/v1/audit?operation=create", "");
    let creates = creates.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(creates.len(), 2, "{creates:?}");
    let touching = api(&server, "GET", &format!("/api/v1/audit?action={other}"), "");
    let touching = touching.json()["entries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!touching.is_empty(), "{touching:?}");
    assert!(
        touching.iter().all(|e| e["action_ids"]
            .as_str()
            .unwrap_or("")
            .contains(&other.to_string())),
        "{touching:?}"
    );
    let bad = api(&server, "GET", "/api/v1/audit?action=x", "");
    assert_eq!(bad.status, 400);
    // The list says who changed an action last (from the audit log).
    let bearer = format!("Bearer {TOKEN}");
    let page = server.request("GET", "/", &[("Authorization", bearer.as_str())], "");
    assert!(page.body.contains(" by e2e-lead"), "{}", page.body);
}

#[test]
fn cross_site_changes_are_refused_and_notes_are_text() {
    let store = TestStore::sqlite();
    admin_ok(
        store.url(),
        &[
            "create",
            "return",
            "items",
            "503",
            "--note",
            "<img src=x onerror=alert(1)>",
            "--no-wait",
        ],
    );
    let server = Server::start(store.url(), Some(TOKEN));
    let bearer = format!("Bearer {TOKEN}");
    let cross = server.request(
        "POST",
        "/api/v1/kill-switch",
        &[
            ("Authorization", bearer.as_str()),
            ("Origin", "https://evil.example"),
            ("Sec-Fetch-Site", "cross-site"),
        ],
        "",
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    let form = server.request(
        "POST",
        "/actions/1/disable",
        &[
            ("Authorization", bearer.as_str()),
            ("Origin", "https://evil.example"),
        ],
        "",
    );
    assert_eq!(form.status, 403);
    let listed = api(&server, "GET", "/api/v1/actions/1", "");
    assert_eq!(listed.json()["enabled"], true, "nothing changed");

    let page = server.request("GET", "/", &[("Authorization", bearer.as_str())], "");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<img"), "{}", page.body);
    let csp = header(&page, "content-security-policy").join(" ");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[test]
fn login_sets_strict_http_only_cookies_and_forms_work_without_javascript() {
    let store = TestStore::sqlite();
    let server = Server::start(store.url(), Some(TOKEN));
    let form = "application/x-www-form-urlencoded";
    let wrong = server.request(
        "POST",
        "/login",
        &[("Content-Type", form)],
        "name=ann&token=nope",
    );
    assert_eq!(wrong.status, 401);
    assert!(header(&wrong, "set-cookie").is_empty());
    let login = server.request(
        "POST",
        "/login",
        &[("Content-Type", form)],
        &format!("name=Ann+Lee&token={TOKEN}"),
    );
    assert_eq!(login.status, 303, "{}", login.body);
    let cookies = header(&login, "set-cookie");
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    // A session id, never the token: cookies are shared with other ports of the host.
    assert!(!cookies[0].contains(TOKEN), "{cookies:?}");
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Strict"))
    );
    let jar: Vec<&str> = cookies.iter().filter_map(|c| c.split(';').next()).collect();
    let cookie = jar.join("; ");
    let cookie_headers = [("Cookie", cookie.as_str()), ("Content-Type", form)];
    let page = server.request("GET", "/", &cookie_headers, "");
    assert!(page.body.contains("operator: Ann Lee"), "{}", page.body);

    // The create form, as a browser without JavaScript posts it.
    let created = server.request(
        "POST",
        "/actions",
        &cookie_headers,
        "kind=response&verb=slow&target=items&min=100ms&max=200ms&probability=&users=alice%2C+bob&for=10m",
    );
    assert_eq!(created.status, 303, "{}", created.body);
    let invalid = server.request(
        "POST",
        "/actions",
        &cookie_headers,
        "kind=response&verb=return&target=items&status=99",
    );
    assert_eq!(invalid.status, 422);
    assert!(invalid.body.contains("status 99"), "{}", invalid.body);
    assert!(
        invalid.body.contains("value=\"items\""),
        "the form keeps what was typed"
    );
    let listed = admin_ok(store.url(), &["list", "--json"]);
    assert!(
        listed.contains("\"alice\"") && listed.contains("\"bob\""),
        "{listed}"
    );

    // Bulk disable from the table's form, then the kill switch needs its confirmation.
    admin_ok(store.url(), &["create", "abort", "checkout", "--no-wait"]);
    let bulk = server.request(
        "POST",
        "/actions/bulk",
        &cookie_headers,
        "ids=1&ids=2&op=disable",
    );
    assert_eq!(bulk.status, 303, "{}", bulk.body);
    let after = admin_ok(store.url(), &["list", "--json"]);
    assert_eq!(
        after.matches("\"state\": \"disabled\"").count()
            + after.matches("\"state\":\"disabled\"").count(),
        2,
        "{after}"
    );
    let unconfirmed = server.request("POST", "/kill", &cookie_headers, "");
    assert_eq!(unconfirmed.status, 303);
    // Where the redirects lead: the list with a fixed notice, and filters as a form sends them.
    let notice = server.request("GET", "/?notice=disabled&n=2", &cookie_headers, "");
    assert_eq!(notice.status, 200, "{}", notice.body);
    assert!(
        notice.body.contains("Disabled 2 actions."),
        "{}",
        notice.body
    );
    let filtered = server.request(
        "GET",
        "/?state=&kind=&verb=slow&view=&q=",
        &cookie_headers,
        "",
    );
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    let enabled = server.request(
        "GET",
        "/fragment/actions?state=enabled",
        &cookie_headers,
        "",
    );
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    // Logging out ends the session.
    let logout = server.request("GET", "/logout", &cookie_headers, "");
    assert_eq!(logout.status, 303);
    assert_eq!(server.request("GET", "/", &cookie_headers, "").status, 401);
}

#[test]
fn an_exercise_stays_hidden_in_pages_and_api() {
    let store = TestStore::sqlite();
    admin_ok(
        store.url(),
        &[
            "exercise",
            "start",
            "--view",
            "checkout",
            "--for",
            "10m",
            "--seed",
            "7",
            "--no-wait",
            "--force",
        ],
    );
    let server = Server::start(store.url(), Some(TOKEN));
    let listed = api(&server, "GET", "/api/v1/actions", "");
    let actions = listed.json()["actions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!actions.is_empty(), "{}", listed.body);
    for action in &actions {
        assert_eq!(action["hidden"], true, "{action}");
        assert!(
            action.get("target").is_none() && action.get("verb").is_none(),
            "{action}"
        );
    }
    let searched = api(&server, "GET", "/api/v1/actions?q=checkout", "");
    assert_eq!(searched.json()["total"], 0, "{}", searched.body);
    let bearer = format!("Bearer {TOKEN}");
    let page = server.request("GET", "/", &[("Authorization", bearer.as_str())], "");
    assert!(!page.body.contains("checkout"), "{}", page.body);
    assert!(
        page.body.contains("hidden by the running exercise"),
        "{}",
        page.body
    );
    admin_ok(store.url(), &["exercise", "reveal"]);
    let revealed = api(&server, "GET", "/api/v1/actions?q=checkout", "");
    assert!(
        revealed.json()["total"].as_u64().unwrap_or(0) >= 1,
        "{}",
        revealed.body
    );
}

#[test]
fn the_demo_embeds_the_admin_behind_its_login_and_a_form_action_reaches_the_app() {
    let store = TestStore::sqlite();
    let app = DemoApp::start(store.url());
    assert_eq!(app.get("/chaos").status, 401);
    // "lead:chaos" in Base64.
    let basic = [("Authorization", "Basic bGVhZDpjaGFvcw==")];
    let home = app.request("GET", "/chaos", &basic).expect("GET /chaos");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("operator: lead"));
    assert!(
        home.body.contains("href=\"/chaos/assets/admin.css\""),
        "links keep the mount path"
    );
    let created = http_request_with_body(
        app.port,
        "POST",
        "/chaos/actions",
        &[
            basic[0],
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        "kind=response&verb=return&target=items&status=503",
    )
    .expect("POST /chaos/actions");
    assert_eq!(created.status, 303, "{}", created.body);
    assert_eq!(header(&created, "location"), ["/chaos?notice=created&n=1"]);
    poll("the demo to inject the action created in the admin", || {
        (app.get("/items").status == 503).then_some(())
    });
    // The fault counts the demo reports with its heartbeat reach the admin.
    let (fired, _) = poll("the demo to report its fault counts", || {
        let listed = app
            .request("GET", "/chaos/api/v1/actions?verb=return", &basic)
            .ok()?;
        let total = listed.json()["actions"][0]["fired"]["total"].as_u64()?;
        (total >= 1).then_some(total)
    });
    assert!(fired >= 1);
    // The admin itself is outside the chaos layer, `/chaos/` and unknown admin pages too.
    admin_ok(store.url(), &["create", "abort", "*", "--no-wait"]);
    poll("the demo to abort every view", || {
        app.request("GET", "/health", &[]).is_err().then_some(())
    });
    let api = app
        .request("GET", "/chaos/api/v1/actions", &basic)
        .expect("api");
    assert_eq!(api.status, 200);
    let slash = app
        .request("GET", "/chaos/?state=active", &basic)
        .expect("/chaos/");
    assert_eq!(slash.status, 308);
    assert_eq!(header(&slash, "location"), ["/chaos?state=active"]);
    let unknown = app
        .request("GET", "/chaos/no-such-page", &basic)
        .expect("404");
    assert_eq!(unknown.status, 404);
    // A page of another site reaching the demo by DNS rebinding is refused.
    let rebound = app
        .request(
            "GET",
            "/chaos",
            &[basic[0], ("Host", "rebind.evil.example")],
        )
        .expect("rebinding");
    assert_eq!(rebound.status, 421);
    // Lower-case scheme (RFC 9110: case-insensitive).
    let lower = app
        .request(
            "GET",
            "/chaos",
            &[("Authorization", "basic bGVhZDpjaGFvcw==")],
        )
        .expect("basic");
    assert_eq!(lower.status, 200);
    // An exercise on a view the demo does not serve: refused (the CLI's rule), unless forced.
    let json = [basic[0], ("Content-Type", "application/json")];
    let nope = http_request_with_body(
        app.port,
        "POST",
        "/chaos/api/v1/exercise",
        &json,
        r#"{"views": ["nope"]}"#,
    )
    .expect("POST exercise");
    assert_eq!(nope.status, 422, "{}", nope.body);
    assert!(
        nope.body
            .contains("no live app instance serves the view nope"),
        "{}",
        nope.body
    );
    let forced = http_request_with_body(
        app.port,
        "POST",
        "/chaos/api/v1/exercise",
        &json,
        r#"{"views": ["nope"], "force": true}"#,
    )
    .expect("POST exercise");
    assert_eq!(forced.status, 201, "{}", forced.body);
}

#[test]
fn a_game_day_runs_from_the_admin() {
    let store = TestStore::sqlite();
    let server = Server::start(store.url(), Some(TOKEN));
    // A storm from the page's form, for one user on two views.
    let bearer = format!("Bearer {TOKEN}");
    let form = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let started = server.request(
        "POST",
        "/storm",
        &form,
        "users=alice&views=items&views=checkout&intensity=medium&for=10m&seed=42",
    );
    // A redirect (reloading the page does not start a second storm), then the notice.
    assert_eq!(started.status, 303, "{}", started.body);
    let location = header(&started, "location").join("");
    assert!(
        location.starts_with("/gameday?notice=storm-started&n=4&seed=42"),
        "{location}"
    );
    let shown = server.request("GET", &location, &[("Authorization", bearer.as_str())], "");
    assert!(
        shown.body.contains("Storm started: 4 actions (seed 42)."),
        "{}",
        shown.body
    );
    let listed = admin_ok(store.url(), &["list", "--json"]);
    assert!(listed.matches("\"alice\"").count() >= 4, "{listed}");
    // Nobody to hit: the CLI's rule and message.
    let nobody = server.request("POST", "/storm", &form, "views=items");
    assert_eq!(nobody.status, 422);
    assert!(
        nobody
            .body
            .contains("a storm needs user NAME or group NAME"),
        "{}",
        nobody.body
    );
    let ended = api(&server, "DELETE", "/api/v1/storm", "");
    assert_eq!(ended.json()["removed"], 4, "{}", ended.body);

    // An exercise through the API: hidden until revealed, hints, end.
    let exercise = api(
        &server,
        "POST",
        "/api/v1/exercise",
        r#"{"views": ["items"], "faults": 2, "for": "30m", "seed": 5}"#,
    );
    assert_eq!(exercise.status, 201, "{}", exercise.body);
    assert_eq!(exercise.json()["exercise"]["faults"], 2);
    assert!(exercise.json()["exercise"].get("actions").is_none());
    let again = api(
        &server,
        "POST",
        "/api/v1/exercise",
        r#"{"views": ["items"]}"#,
    );
    assert_eq!(again.status, 409, "{}", again.body);
    let page = server.request("GET", "/gameday", &[("Authorization", bearer.as_str())], "");
    assert!(page.body.contains("2 hidden faults"), "{}", page.body);
    assert!(
        !page.body.contains("view items"),
        "hidden before the reveal: {}",
        page.body
    );
    let hint = api(&server, "POST", "/api/v1/exercise/hint", "");
    assert!(
        hint.json()["hint"]
            .as_str()
            .unwrap_or("")
            .contains("look at view items"),
        "{}",
        hint.body
    );
    let revealed = api(&server, "POST", "/api/v1/exercise/reveal", "");
    assert_eq!(
        revealed.json()["exercise"]["actions"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let end = api(&server, "POST", "/api/v1/exercise/end", "");
    assert_eq!(end.json()["removed"], 2, "{}", end.body);
    let none = api(&server, "POST", "/api/v1/exercise/hint", "");
    assert_eq!(none.status, 409);
}
