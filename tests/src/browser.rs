//! Headless Chromium driven over WebDriver (chromedriver), for the hosted checkout page tests.
//! `scripts/install-test-tools` installs both from Debian packages.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hyper::Method;
use serde_json::{Value, json};

use crate::http;

/// How long chromedriver may take to answer its status endpoint.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a page element may take to appear.
const ELEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// W3C WebDriver's key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One headless browser session; the driver and browser stop when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a headless Chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (scripts/install-test-tools installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
        };
        let deadline = tokio::time::Instant::now() + DRIVER_START_TIMEOUT;
        loop {
            let ready = tokio::time::timeout(
                Duration::from_secs(2),
                try_status(&format!("{}/status", browser.base)),
            )
            .await
            .unwrap_or(false);
            if ready {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = browser
            .call(
                Method::POST,
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium_binary(),
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--window-size=1024,768"]
                    }
                }}}),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        browser
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn open(&self, url: &str) {
        self.session_call(Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// Types `text` into the element matching `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.wait_for(css).await;
        self.session_call(
            Method::POST,
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        self.session_call(
            Method::POST,
            &format!("/element/{element}/click"),
            json!({}),
        )
        .await;
    }

    /// An attribute of the element matching `css`, once it exists.
    pub async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.wait_for(css).await;
        let value = self
            .session_call(
                Method::GET,
                &format!("/element/{element}/attribute/{name}"),
                Value::Null,
            )
            .await;
        value.as_str().map(str::to_owned)
    }

    /// The visible text of the element matching `css`, once it exists.
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        let value = self
            .session_call(
                Method::GET,
                &format!("/element/{element}/text"),
                Value::Null,
            )
            .await;
        value.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until an element matches `css` and returns its reference.
    pub async fn wait_for(&self, css: &str) -> String {
        let deadline = tokio::time::Instant::now() + ELEMENT_TIMEOUT;
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let body = json!({ "using": "css selector", "value": css });
            let response = http::post_json(&url, &body).await;
            if response.status == 200 {
                let value: Value = serde_json::from_str(&response.body).expect("JSON");
                match value["value"][ELEMENT_KEY].as_str() {
                    Some(element) => return element.to_owned(),
                    None => panic!("finding {css} answered {}", response.body),
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no element matches {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session (the browser quits) and stops the driver.
    pub async fn close(mut self) {
        let url = format!("{}/session/{}", self.base, self.session);
        let _ = http::send(Method::DELETE, &url, &[], "").await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    async fn session_call(&self, method: Method, path: &str, body: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).await
    }

    async fn call(&self, method: Method, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let (headers, body) = match body {
            Value::Null => (vec![], String::new()),
            body => (vec![("content-type", "application/json")], body.to_string()),
        };
        let response = http::send(method, &url, &headers, body).await;
        assert_eq!(
            response.status, 200,
            "WebDriver {path} failed: {}",
            response.body
        );
        let value: Value = serde_json::from_str(&response.body).expect("WebDriver answers JSON");
        value["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn try_status(url: &str) -> bool {
    // Connection refused while the driver starts: not ready yet.
    matches!(http::try_get(url).await, Some(response) if response.status == 200)
}

fn chromium_binary() -> String {
    std::env::var("PURSE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}
