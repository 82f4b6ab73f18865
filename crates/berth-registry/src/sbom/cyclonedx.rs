//! CycloneDX 1.5 JSON (CycloneDX specification v1.5): the image as
//! `metadata.component` (type `container`), the distribution as an
//! `operating-system` component, one `library` (or `application` for a
//! distribution package) component per installed package with its purl.

use serde_json::{json, Value};

use super::{Described, GENERATOR_NAME, GENERATOR_VERSION};

/// Media type and `artifactType` of a CycloneDX JSON document.
pub const MEDIA_TYPE: &str = "application/vnd.cyclonedx+json";

/// The CycloneDX BOM for `image`.
pub fn document(image: &Described) -> Value {
    let os = image.inventory.os.as_ref();
    let mut components = Vec::new();
    if let Some(os) = os {
        components.push(json!({
            "type": "operating-system",
            "bom-ref": "os",
            "name": os.id,
            "version": os.version_id,
            "description": os.pretty_name,
        }));
    }
    for (i, p) in image.inventory.packages.iter().enumerate() {
        let mut c = json!({
            "type": "library",
            "bom-ref": format!("{}-{i}", p.ecosystem),
            "name": p.name,
            "version": p.version,
            "properties": [
                {"name": "berth:package:type", "value": p.ecosystem.purl_type()},
                {"name": "berth:package:location", "value": p.location},
            ],
        });
        if let Some(purl) = p.purl(os) {
            c["purl"] = json!(purl);
        }
        if let Some(license) = &p.license {
            c["licenses"] = json!([{ "license": { "name": license } }]);
        }
        if let Some((name, version)) = &p.source {
            if let Some(props) = c["properties"].as_array_mut() {
                props.push(
                    json!({"name": "berth:package:source", "value": format!("{name} {version}")}),
                );
            }
        }
        components.push(c);
    }
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", image.serial),
        "version": 1,
        "metadata": {
            "timestamp": image.created,
            "tools": {
                "components": [{
                    "type": "application",
                    "name": GENERATOR_NAME,
                    "version": GENERATOR_VERSION,
                }],
            },
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": image.repository,
                "version": image.digest,
                "purl": image.oci_purl(),
            },
        },
        "components": components,
    })
}
