//! SPDX 2.3 JSON (SPDX specification v2.3, JSON serialization): one
//! package for the image (`primaryPackagePurpose: CONTAINER`) that
//! `CONTAINS` one package per installed package, each with its purl as a
//! `PACKAGE-MANAGER` external reference.

use serde_json::{json, Value};

use super::{Described, GENERATOR};

/// Media type and `artifactType` of an SPDX JSON document.
pub const MEDIA_TYPE: &str = "application/spdx+json";

/// The SPDX document for `image`.
pub fn document(image: &Described) -> Value {
    let os = image.inventory.os.as_ref();
    let mut packages = vec![json!({
        "name": image.repository,
        "SPDXID": "SPDXRef-Image",
        "versionInfo": image.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": image.oci_purl(),
        }],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    if let Some(os) = os {
        packages.push(json!({
            "name": os.id,
            "SPDXID": "SPDXRef-OperatingSystem",
            "versionInfo": os.version_id,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "OPERATING-SYSTEM",
            "comment": os.pretty_name,
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-OperatingSystem",
        }));
    }
    for (i, p) in image.inventory.packages.iter().enumerate() {
        let id = format!("SPDXRef-Package-{}-{i}", p.ecosystem);
        let mut package = json!({
            "name": p.name,
            "SPDXID": id,
            "versionInfo": p.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": match p.ecosystem {
                super::Ecosystem::Deb | super::Ecosystem::Apk | super::Ecosystem::Rpm => "INSTALL",
                _ => "LIBRARY",
            },
            "sourceInfo": format!("found in {}", p.location),
        });
        if let Some(license) = &p.license {
            // Declared licenses are copied as written, which is not always
            // an SPDX expression; they go in the comment.
            package["licenseComments"] = json!(format!("declared: {license}"));
        }
        if let Some(purl) = p.purl(os) {
            package["externalRefs"] = json!([{
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": purl,
            }]);
        }
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{}@{}", image.repository, image.digest),
        "documentNamespace": format!(
            "https://berth.invalid/spdx/{}/{}/{}",
            image.repository, image.digest, image.serial
        ),
        "creationInfo": {
            "created": image.created,
            "creators": [format!("Tool: {GENERATOR}")],
        },
        "packages": packages,
        "relationships": relationships,
    })
}
