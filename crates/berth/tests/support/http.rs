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

/// Pushes an OCI 1.1 referrer into `repo` of the registry at `base`
/// (`http://host:port`): an artifact manifest of type `artifact_type` with
/// the empty config and layer, annotated `org.example.test`, whose `subject`
/// is `subject` (`subject_media_type`, `subject_size` bytes). `auth` adds
/// the credentials (Basic, or a bearer token). Returns its digest.
pub fn push_referrer(
    base: &str,
    repo: &str,
    (subject_media_type, subject, subject_size): (&str, &str, usize),
    artifact_type: &str,
    auth: &dyn Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    const EMPTY: &str = "application/vnd.oci.empty.v1+json";
    let empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let http = reqwest::Client::new();
    let r =
        send(auth(http.post(format!("{base}/v2/{repo}/blobs/uploads/?digest={empty}"))).body("{}"));
    assert_eq!(r.status, 201, "{}", r.text());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY, "digest": empty, "size": 2},
        "layers": [{"mediaType": EMPTY, "digest": empty, "size": 2}],
        "subject": {"mediaType": subject_media_type, "digest": subject, "size": subject_size},
        "annotations": {"org.example.test": repo},
    })
    .to_string();
    let digest = format!(
        "sha256:{}",
        hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            manifest.as_bytes()
        ))
    );
    let r = send(
        auth(http.put(format!("{base}/v2/{repo}/manifests/{digest}")))
            .header("content-type", MANIFEST)
            .body(manifest),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    digest
}

/// The token endpoint's answer for `who` and `scope`: status and the token
/// ("" when refused).
pub fn token_for(base: &str, who: (&str, &str), scope: &str) -> (u16, String) {
    let r = send(
        reqwest::Client::new()
            .get(format!("{base}/v2/token?service=berth&scope={scope}"))
            .basic_auth(who.0, Some(who.1)),
    );
    (
        r.status,
        r.json()["token"].as_str().unwrap_or("").to_string(),
    )
}

/// The actions a registry token for `who` grants on `repository` when asked
/// for pull and push, sorted: `(status, actions)`.
pub fn granted_actions(base: &str, who: (&str, &str), repository: &str) -> (u16, Vec<String>) {
    use base64::Engine;
    let (status, jwt) = token_for(base, who, &format!("repository:{repository}:pull,push"));
    if status != 200 {
        return (status, Vec::new());
    }
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let mut actions: Vec<String> = claims["access"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["actions"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    actions.sort();
    (200, actions)
}
