//! The images concejo runs: pinned defaults, moved to the province's registry mirror when it has
//! one, each replaceable by a full reference (a tag or a digest).

use serde::{Deserialize, Serialize};

use crate::api::v1alpha1::Images;

/// The default images, all from Docker Hub's official or vendor repositories; docs/collaboration.md
/// says why each (they run as non-root under Pod Security `restricted`).
pub const NEXTCLOUD: &str = "docker.io/library/nextcloud:33.0.7-fpm-alpine";
pub const WEB: &str = "docker.io/nginxinc/nginx-unprivileged:1.29.3-alpine";
pub const POSTGRES: &str = "docker.io/library/postgres:17.7-alpine";
pub const REDIS: &str = "docker.io/library/redis:7.4.7-alpine";
pub const OFFICE: &str = "docker.io/collabora/code:25.04.7.2.1";
/// restic and rclone at the versions the project's data-path tests run (e2e/backup/install.sh).
pub const RESTIC: &str = "docker.io/restic/restic:0.19.1";
pub const RCLONE: &str = "docker.io/rclone/rclone:1.76.0";

/// Every image reference in effect.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resolved {
    pub nextcloud: String,
    pub web: String,
    pub postgres: String,
    pub redis: String,
    pub office: String,
    #[serde(default)]
    pub restic: String,
    #[serde(default)]
    pub rclone: String,
}

/// The references in effect for a province's `images`.
pub fn resolve(images: &Images) -> Resolved {
    let pick = |own: &Option<String>, default: &str| match own {
        Some(reference) => reference.clone(),
        None => mirrored(images.registry.as_deref(), default),
    };
    Resolved {
        nextcloud: pick(&images.nextcloud, NEXTCLOUD),
        web: pick(&images.web, WEB),
        postgres: pick(&images.postgres, POSTGRES),
        redis: pick(&images.redis, REDIS),
        office: pick(&images.office, OFFICE),
        restic: pick(&images.restic, RESTIC),
        rclone: pick(&images.rclone, RCLONE),
    }
}

/// A default reference with its registry (`docker.io`) replaced by the mirror's prefix.
fn mirrored(registry: Option<&str>, reference: &str) -> String {
    match registry {
        Some(mirror) => format!("{}/{}", mirror.trim_end_matches('/'), reference.trim_start_matches("docker.io/")),
        None => reference.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_replaces_the_registry_and_own_references_are_kept() {
        let images = Images {
            registry: Some("registry.dipuleon.es/mirror/".into()),
            postgres: Some("registry.dipuleon.es/pg@sha256:0123".into()),
            ..Default::default()
        };
        let resolved = resolve(&images);
        assert_eq!(resolved.nextcloud, "registry.dipuleon.es/mirror/library/nextcloud:33.0.7-fpm-alpine");
        assert_eq!(resolved.postgres, "registry.dipuleon.es/pg@sha256:0123");
        assert_eq!(resolve(&Images::default()).redis, REDIS);
    }
}
