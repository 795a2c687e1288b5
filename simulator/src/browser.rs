//! A small W3C WebDriver client over reqwest, driving Debian's headless Chromium through
//! chromedriver at a handheld's viewport (360 × 740 CSS px, like a Zebra TC52) or a laptop's
//! (1440 × 900, the HQ console). Enough for the
//! handheld tests: open a page, find, type (with the scanner's Enter), click, read text, run
//! a script, take a screenshot. Used by the browser tests and `tote-sim bench handheld`.

use crate::KillOnDrop;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The WebDriver key code for Enter: what a handheld's scanner sends after the code.
pub const ENTER: &str = "\u{E007}";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    base: String,
    _driver: KillOnDrop,
    pub shots: PathBuf,
}

fn find_binary(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.exists())
}

impl Browser {
    /// A handheld's browser; `shots`: where screenshots go.
    pub async fn start(shots: PathBuf) -> Result<Browser> {
        let mobile = json!({"deviceMetrics": {"width": 360, "height": 740, "pixelRatio": 2.0, "touch": true}});
        Browser::launch(shots, "--window-size=360,740", Some(mobile)).await
    }

    /// A laptop's browser at 1440 × 900 (the HQ console).
    pub async fn start_desktop(shots: PathBuf) -> Result<Browser> {
        Browser::launch(shots, "--window-size=1440,900", None).await
    }

    async fn launch(shots: PathBuf, window: &str, mobile: Option<Value>) -> Result<Browser> {
        let driver = find_binary(&["chromedriver"]).context("chromedriver is missing: run tests/run.sh (it installs Debian's chromium and chromium-driver)")?;
        let chromium = find_binary(&["chromium", "chromium-browser"])
            .context("chromium is missing: run tests/run.sh")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let driver = KillOnDrop(child);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut options = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage",
                     window, "--lang=en-US", "--autoplay-policy=no-user-gesture-required"],
        });
        if let Some(mobile) = mobile {
            options["mobileEmulation"] = mobile;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = created["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no WebDriver session: {created}"))?
            .to_owned();
        std::fs::create_dir_all(&shots)?;
        Ok(Browser {
            http,
            session,
            base,
            _driver: driver,
            shots,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await?.json().await?;
        if let Some(error) = reply["value"]["error"].as_str() {
            bail!("WebDriver {path}: {error}: {}", reply["value"]["message"]);
        }
        Ok(reply["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    /// The element for a CSS selector, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await
            {
                Ok(v) => {
                    return v[ELEMENT]
                        .as_str()
                        .map(str::to_owned)
                        .with_context(|| format!("element id in {v}"))
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("no element {css}")))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(30)).await,
            }
        }
    }

    /// One call on the element; if the page re-rendered it between finding and acting (a stale
    /// reference), it is found again.
    async fn on_element(
        &self,
        css: &str,
        method: reqwest::Method,
        action: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let mut tries = 0;
        loop {
            let id = self.find(css).await?;
            match self
                .call(
                    method.clone(),
                    &format!("/element/{id}{action}"),
                    body.clone(),
                )
                .await
            {
                Err(e) if tries < 20 && e.to_string().contains("stale element") => tries += 1,
                other => return other,
            }
        }
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        self.on_element(css, reqwest::Method::POST, "/click", Some(json!({})))
            .await
            .map(|_| ())
    }

    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        self.on_element(
            css,
            reqwest::Method::POST,
            "/value",
            Some(json!({"text": text})),
        )
        .await
        .map(|_| ())
    }

    pub async fn clear(&self, css: &str) -> Result<()> {
        self.on_element(css, reqwest::Method::POST, "/clear", Some(json!({})))
            .await
            .map(|_| ())
    }

    /// What a handheld scanner does: the code, then Enter, into the scan field.
    pub async fn scan(&self, code: &str) -> Result<()> {
        self.type_into("#scan", &format!("{code}{ENTER}")).await
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        Ok(self
            .on_element(css, reqwest::Method::GET, "/text", None)
            .await?
            .as_str()
            .unwrap_or("")
            .to_owned())
    }

    pub async fn exec(&self, script: &str) -> Result<Value> {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Waits until the feedback line contains `text` (and has the class `kind`, if given).
    pub async fn expect_msg(&self, text: &str, kind: Option<&str>) -> Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let msg = self
                .exec("const m=document.getElementById('msg');return [m.textContent, m.className]")
                .await?;
            let (shown, class) = (msg[0].as_str().unwrap_or(""), msg[1].as_str().unwrap_or(""));
            if shown.contains(text) && kind.is_none_or(|k| class == k) {
                return Ok(shown.to_owned());
            }
            if Instant::now() > deadline {
                bail!("the page says {shown:?} ({class}), not {text:?} ({kind:?})");
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    /// Waits for the page to show a screen (`body[data-screen]`).
    pub async fn on_screen(&self, name: &str) -> Result<()> {
        self.find(&format!("body[data-screen='{name}']"))
            .await
            .map(|_| ())
    }

    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        use base64::Engine;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().context("screenshot data")?)?;
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, bytes)?;
        Ok(path)
    }

    /// Ends a test's browsing: a screenshot named `failure` when `outcome` is an error (what
    /// the page showed), then the session closed; `outcome` is passed on.
    pub async fn finish<T>(&self, outcome: Result<T>) -> Result<T> {
        if outcome.is_err() {
            let _ = self.screenshot("failure").await;
        }
        self.quit().await;
        outcome
    }

    pub async fn quit(&self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send()
            .await;
    }
}
