//! User groups (migration 20): Harbor's `/usergroups`, which users are in
//! them (as their directory said at their last sign-in), and groups as
//! project members with a role. Who may do what is decided in
//! `berth_registry::auth`; this module only stores the rows.

use sqlx::Row;

use crate::error::Result;
use crate::store::now_ms;
use crate::MetaStore;

/// Harbor's `group_type` of an LDAP group.
pub const GROUP_TYPE_LDAP: i64 = 1;
/// Harbor's `group_type` of an OIDC group.
pub const GROUP_TYPE_OIDC: i64 = 3;

/// A user group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// Row id (Harbor's group `id`).
    pub id: i64,
    /// Display name.
    pub group_name: String,
    /// [`GROUP_TYPE_LDAP`] or [`GROUP_TYPE_OIDC`].
    pub group_type: i64,
    /// The LDAP group's DN (empty for others).
    pub ldap_group_dn: String,
}

/// A group's membership of a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberRecord {
    /// Row id.
    pub id: i64,
    /// The project.
    pub project_id: i64,
    /// The group.
    pub group: GroupRecord,
    /// Harbor role id (1 projectAdmin … 5 limitedGuest).
    pub role_id: i64,
}

fn group_row(r: &sqlx::any::AnyRow) -> GroupRecord {
    GroupRecord {
        id: r.get("id"),
        group_name: r.get("group_name"),
        group_type: r.get("group_type"),
        ldap_group_dn: r.get("ldap_group_dn"),
    }
}

const MEMBER_SELECT: &str = "SELECT m.id AS member_id, m.project_id, m.role_id, g.id, g.group_name, g.group_type, g.ldap_group_dn
     FROM project_group_members m JOIN user_groups g ON g.id = m.group_id";

fn member_row(r: sqlx::any::AnyRow) -> GroupMemberRecord {
    GroupMemberRecord {
        id: r.get("member_id"),
        project_id: r.get("project_id"),
        role_id: r.get("role_id"),
        group: group_row(&r),
    }
}

impl MetaStore {
    /// Creates a group. Errors: a UNIQUE violation ([`crate::is_conflict`])
    /// when the same type, DN and name exist.
    pub async fn group_create(
        &self,
        group_name: &str,
        group_type: i64,
        ldap_group_dn: &str,
    ) -> Result<GroupRecord> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO user_groups (group_name, group_type, ldap_group_dn, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(group_name)
        .bind(group_type)
        .bind(ldap_group_dn)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(GroupRecord {
            id,
            group_name: group_name.into(),
            group_type,
            ldap_group_dn: ldap_group_dn.into(),
        })
    }

    /// A group by id.
    pub async fn group_by_id(&self, id: i64) -> Result<Option<GroupRecord>> {
        let row = sqlx::query("SELECT * FROM user_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.as_ref().map(group_row))
    }

    /// Groups whose name contains `name_part` (all with ""), ordered by id,
    /// one page; and how many match.
    pub async fn groups_list(
        &self,
        name_part: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<GroupRecord>, i64)> {
        let like = format!(
            "%{}%",
            name_part
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        let rows = sqlx::query(
            "SELECT * FROM user_groups WHERE group_name LIKE $1 ESCAPE '\\' ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(&like)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.read)
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM user_groups WHERE group_name LIKE $1 ESCAPE '\\'",
        )
        .bind(&like)
        .fetch_one(&self.read)
        .await?;
        Ok((rows.iter().map(group_row).collect(), total))
    }

    /// Every group of `group_type`.
    pub async fn groups_of_type(&self, group_type: i64) -> Result<Vec<GroupRecord>> {
        let rows = sqlx::query("SELECT * FROM user_groups WHERE group_type = $1 ORDER BY id")
            .bind(group_type)
            .fetch_all(&self.read)
            .await?;
        Ok(rows.iter().map(group_row).collect())
    }

    /// Renames a group; false when absent.
    pub async fn group_rename(&self, id: i64, group_name: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n =
            sqlx::query("UPDATE user_groups SET group_name = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(group_name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(n.rows_affected() > 0)
    }

    /// Deletes a group with its memberships; false when absent.
    pub async fn group_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM project_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM user_group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM user_groups WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n.rows_affected() > 0)
    }

    /// Replaces the groups user `user_id` is in with `group_ids`.
    pub async fn user_groups_set(&self, user_id: i64, group_ids: &[i64]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM user_group_members WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for g in group_ids {
            sqlx::query(
                "INSERT INTO user_group_members (user_id, group_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(g)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The role ids the groups of user `user_id` hold in project `project_id`.
    pub async fn group_roles_of(&self, project_id: i64, user_id: i64) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT m.role_id FROM project_group_members m
             JOIN user_group_members u ON u.group_id = m.group_id
             WHERE m.project_id = $1 AND u.user_id = $2",
        )
        .bind(project_id)
        .bind(user_id)
        .fetch_all(&self.read)
        .await?)
    }

    /// Makes group `group_id` a member of project `project_id` with
    /// `role_id`. Errors: a UNIQUE violation when it already is one.
    pub async fn group_member_add(
        &self,
        project_id: i64,
        group_id: i64,
        role_id: i64,
    ) -> Result<i64> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO project_group_members (project_id, group_id, role_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(project_id)
        .bind(group_id)
        .bind(role_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A group membership by id.
    pub async fn group_member_by_id(&self, id: i64) -> Result<Option<GroupMemberRecord>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE m.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        Ok(row.map(member_row))
    }

    /// The group members of a project, by id.
    pub async fn group_members_of_project(
        &self,
        project_id: i64,
    ) -> Result<Vec<GroupMemberRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{MEMBER_SELECT} WHERE m.project_id = $1 ORDER BY m.id"
        )))
        .bind(project_id)
        .fetch_all(&self.read)
        .await?;
        Ok(rows.into_iter().map(member_row).collect())
    }

    /// Sets a group membership's role; false when absent.
    pub async fn group_member_set_role(&self, id: i64, role_id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query(
            "UPDATE project_group_members SET role_id = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(role_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n.rows_affected() > 0)
    }

    /// Removes a group membership; false when absent.
    pub async fn group_member_delete(&self, id: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = sqlx::query("DELETE FROM project_group_members WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_users_groups_give_their_roles_in_a_project() {
        let dir = tempfile::tempdir().unwrap();
        let meta = MetaStore::open(&crate::testing::database_url(dir.path()).await)
            .await
            .unwrap();
        let u = meta.user_create("ann", "", "", "x", false).await.unwrap();
        let p = meta
            .project_create("team", false, Some(u.id))
            .await
            .unwrap();
        let devs = meta
            .group_create(
                "devs",
                GROUP_TYPE_LDAP,
                "cn=devs,ou=groups,dc=example,dc=org",
            )
            .await
            .unwrap();
        let ops = meta
            .group_create("ops", GROUP_TYPE_LDAP, "cn=ops,ou=groups,dc=example,dc=org")
            .await
            .unwrap();
        assert!(meta
            .group_create(
                "devs",
                GROUP_TYPE_LDAP,
                "cn=devs,ou=groups,dc=example,dc=org"
            )
            .await
            .is_err());
        let m = meta.group_member_add(p.id, devs.id, 2).await.unwrap();
        meta.group_member_add(p.id, ops.id, 3).await.unwrap();
        assert!(meta.group_member_add(p.id, ops.id, 3).await.is_err());
        assert_eq!(
            meta.group_roles_of(p.id, u.id).await.unwrap(),
            Vec::<i64>::new()
        );
        meta.user_groups_set(u.id, &[devs.id, ops.id])
            .await
            .unwrap();
        let mut roles = meta.group_roles_of(p.id, u.id).await.unwrap();
        roles.sort();
        assert_eq!(roles, vec![2, 3]);
        meta.user_groups_set(u.id, &[ops.id]).await.unwrap();
        assert_eq!(meta.group_roles_of(p.id, u.id).await.unwrap(), vec![3]);
        assert!(meta.group_member_set_role(m, 1).await.unwrap());
        let listed = meta.group_members_of_project(p.id).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].group, devs);
        assert_eq!(listed[0].role_id, 1);
        assert!(meta.group_delete(ops.id).await.unwrap());
        assert_eq!(
            meta.group_roles_of(p.id, u.id).await.unwrap(),
            Vec::<i64>::new()
        );
        assert_eq!(meta.groups_list("", 10, 0).await.unwrap().1, 1);
        assert_eq!(meta.groups_list("ev", 10, 0).await.unwrap().0, vec![devs]);
    }
}
