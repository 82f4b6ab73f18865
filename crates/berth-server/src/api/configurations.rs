//! `GET /configurations` (Harbor's `ConfigurationsResponse`, read-only):
//! the identity settings in effect, so an operator can see what berth
//! signs users in against without reading the server's files. Secrets (the
//! LDAP bind password) are never answered, not even masked. Changing them
//! through the API is not offered: berth's configuration is its file
//! (docs/identity.md). System administrators only.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::authz::{self, Caller};
use super::error::{ApiResult, Errors};
use crate::server::AppState;

/// One of Harbor's configuration items: `{"value": …, "editable": false}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigItem {
    /// The value in effect.
    #[schema(value_type = Object)]
    pub value: Value,
    /// Always false: berth is configured by its file.
    pub editable: bool,
}

fn item(value: Value) -> ConfigItem {
    ConfigItem {
        value,
        editable: false,
    }
}

/// `GET /configurations`: Harbor's keys for what berth has:
/// `auth_mode` (`db_auth`, `ldap_auth` or `oidc_auth`), `self_registration` (false),
/// `token_expiration` (minutes), and with LDAP `ldap_url`, `ldap_search_dn`,
/// `ldap_base_dn`, `ldap_filter`, `ldap_uid`, `ldap_scope` (2, subtree),
/// `ldap_timeout`, `ldap_group_base_dn`, `ldap_group_search_filter`,
/// `ldap_group_membership_attribute`, plus berth's `ldap_starttls` and
/// `ldap_recheck_secs`; with OpenID Connect (`oidc_auth`) `oidc_name`,
/// `oidc_endpoint`, `oidc_client_id`, `oidc_scope`, `oidc_user_claim`,
/// `oidc_groups_claim`, `oidc_admin_group`, `oidc_verify_cert`,
/// `oidc_auto_onboard`, `oidc_extra_redirect_parms`, and berth's
/// `oidc_recheck_secs`, `oidc_redirect_url` (empty: derived). Never the bind password or the client secret.
#[utoipa::path(get, path = "/configurations", tag = "configure",
    responses((status = 200, body = Object), (status = 401, body = Errors),
        (status = 403, body = Errors)))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Json<BTreeMap<&'static str, ConfigItem>>> {
    authz::can_administer(&caller, "read the configuration")?;
    let mut out = BTreeMap::new();
    out.insert("self_registration", item(json!(false)));
    let Some(auth) = state.auth.as_deref() else {
        out.insert("auth_mode", item(json!("none")));
        return Ok(Json(out));
    };
    let c = auth.config();
    out.insert(
        "token_expiration",
        item(json!(c.token_ttl.as_secs().div_ceil(60))),
    );
    if let Some(p) = auth.oidc() {
        let o = p.config();
        out.insert("auth_mode", item(json!("oidc_auth")));
        out.insert("oidc_name", item(json!(o.name)));
        out.insert("oidc_endpoint", item(json!(o.issuer)));
        out.insert("oidc_client_id", item(json!(o.client_id)));
        out.insert("oidc_scope", item(json!(o.scopes.join(","))));
        out.insert("oidc_user_claim", item(json!(o.username_claim)));
        out.insert("oidc_groups_claim", item(json!(o.groups_claim)));
        out.insert("oidc_admin_group", item(json!(o.admin_group)));
        out.insert("oidc_verify_cert", item(json!(true)));
        out.insert("oidc_auto_onboard", item(json!(true)));
        let extra: serde_json::Map<String, Value> = o
            .extra_auth_params
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        out.insert(
            "oidc_extra_redirect_parms",
            item(json!(Value::Object(extra).to_string())),
        );
        out.insert("oidc_recheck_secs", item(json!(o.recheck.as_secs())));
        out.insert("oidc_redirect_url", item(json!(o.redirect_url)));
        return Ok(Json(out));
    }
    match auth.directory() {
        None => {
            out.insert("auth_mode", item(json!("db_auth")));
        }
        Some(dir) => {
            let l = dir.config();
            out.insert("auth_mode", item(json!("ldap_auth")));
            out.insert("ldap_url", item(json!(l.url)));
            out.insert("ldap_starttls", item(json!(l.starttls)));
            out.insert("ldap_search_dn", item(json!(l.bind_dn)));
            out.insert("ldap_base_dn", item(json!(l.user_base)));
            out.insert("ldap_filter", item(json!(l.user_filter)));
            out.insert("ldap_uid", item(json!(l.uid_attribute)));
            out.insert("ldap_scope", item(json!(2)));
            out.insert("ldap_timeout", item(json!(l.timeout.as_secs())));
            out.insert("ldap_group_base_dn", item(json!(l.group_base)));
            out.insert("ldap_group_search_filter", item(json!(l.group_filter)));
            out.insert(
                "ldap_group_membership_attribute",
                item(json!(if l.group_base.is_empty() {
                    &l.membership_attribute
                } else {
                    &l.group_member_attribute
                })),
            );
            out.insert("ldap_recheck_secs", item(json!(l.recheck.as_secs())));
        }
    }
    Ok(Json(out))
}
