//! End to end with the `oci-client` crate (the client of the Rust ecosystem's
//! wasm and artifact tools): push an image with two layers, pull it back, list tags.

mod support;

use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use support::*;

#[tokio::test]
async fn oci_client_push_and_pull_round_trip() {
    let data = tempfile::tempdir().unwrap();
    let berth = Berth::start(data.path());
    let client = Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    });
    let reference: Reference = format!("{}/rust/artifact:v1", berth.addr).parse().unwrap();
    let layers = vec![
        ImageLayer::new(
            b"first layer".to_vec(),
            "application/vnd.oci.image.layer.v1.tar".into(),
            None,
        ),
        ImageLayer::new(
            vec![9u8; 300_000],
            "application/vnd.oci.image.layer.v1.tar".into(),
            None,
        ),
    ];
    let config = Config::new(
        br#"{"architecture":"amd64","os":"linux"}"#.to_vec(),
        "application/vnd.oci.image.config.v1+json".into(),
        None,
    );
    let pushed = client
        .push(&reference, &layers, config, &RegistryAuth::Anonymous, None)
        .await
        .expect("push");
    assert!(pushed.manifest_url.contains("/rust/artifact/manifests/"));

    let pulled = client
        .pull(
            &reference,
            &RegistryAuth::Anonymous,
            vec!["application/vnd.oci.image.layer.v1.tar"],
        )
        .await
        .expect("pull");
    // oci-client fetches layers concurrently: compare as a set, by digest.
    let mut got: Vec<String> = pulled.layers.iter().map(|l| l.sha256_digest()).collect();
    let mut want: Vec<String> = layers.iter().map(|l| l.sha256_digest()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        pulled.config.data,
        br#"{"architecture":"amd64","os":"linux"}"#
    );

    let tags = client
        .list_tags(&reference, &RegistryAuth::Anonymous, None, None)
        .await
        .expect("list tags");
    assert_eq!(tags.tags, vec!["v1".to_string()]);
}
