//! Synchronous HTTP for the end-to-end tests: a request sent with reqwest on
//! a shared runtime and its answer read whole.

use super::ADMIN_PASSWORD;

/// A response read whole.
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// Sends `r` and reads the answer, from a synchronous test.
pub fn send(r: reqwest::RequestBuilder) -> Resp {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| tokio::runtime::Runtime::new().unwrap());
    rt.block_on(async move {
        let resp = r.send().await.expect("request");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        }
    })
}

/// The id at the end of a 201 answer's `Location`.
pub fn created_id(r: &Resp) -> i64 {
    assert_eq!(r.status, 201, "{}", r.text());
    location_id(&r.headers)
}

/// The id at the end of the `Location` in `headers`.
pub fn location_id(headers: &reqwest::header::HeaderMap) -> i64 {
    headers["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// `r` with the test administrator's Basic credentials.
pub fn admin(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.basic_auth("admin", Some(ADMIN_PASSWORD))
}
