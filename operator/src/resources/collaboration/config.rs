//! The suite's configuration, one ConfigMap: nginx in front of php-fpm, Nextcloud's own settings
//! (trusted domains, https behind the ingress, Redis), and the start hook that registers the
//! province's office pool and runs background jobs by cron.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;

use super::super::{Component, Context, Part, labels};
use super::{FPM_PORT, REDIS_PORT, WEB_PORT};
use crate::domain::ValidTenant;
use crate::domain::tenant::internal_web_host;

pub const NAME: &str = "nextcloud-config";
/// Keys of the ConfigMap.
pub const NGINX: &str = "default.conf";
pub const SETTINGS: &str = "concejo.config.php";
pub const HOOK: &str = "10-concejo.sh";

pub struct Config;

impl Component for Config {
    type Kind = ConfigMap;
    const PART: Part = Part::Collaboration;
    const NAMES: &'static [&'static str] = &[NAME];
    const KEEP_WHEN_EMPTY: bool = false;

    fn build(tenant: &ValidTenant, _: &Context<'_>) -> Vec<ConfigMap> {
        if tenant.collaboration.is_none() {
            return vec![];
        }
        let data = [(NGINX, nginx()), (SETTINGS, settings(tenant)), (HOOK, hook(tenant))];
        vec![ConfigMap {
            metadata: labels::metadata(tenant, NAME, Some(tenant.namespace()), "collaboration"),
            data: Some(data.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<BTreeMap<_, _>>()),
            ..Default::default()
        }]
    }
}

/// nginx on an unprivileged port serving Nextcloud's static files and passing PHP to php-fpm,
/// after Nextcloud's documented nginx configuration; HSTS is sent whatever the ingress does.
fn nginx() -> String {
    format!(
        r#"upstream php-handler {{ server 127.0.0.1:{FPM_PORT}; }}
map $arg_v $asset_immutable {{ "" ""; default ", immutable"; }}
server {{
    listen {WEB_PORT};
    server_tokens off;
    root /var/www/html;
    client_max_body_size 10G;
    client_body_timeout 300s;
    fastcgi_buffers 64 4K;
    client_body_temp_path /tmp/client_temp;
    add_header Strict-Transport-Security "max-age=15552000; includeSubDomains" always;
    add_header Referrer-Policy "no-referrer" always;
    add_header X-Content-Type-Options "nosniff" always;
    add_header X-Frame-Options "SAMEORIGIN" always;
    add_header X-Permitted-Cross-Domain-Policies "none" always;
    add_header X-Robots-Tag "noindex, nofollow" always;
    add_header X-XSS-Protection "1; mode=block" always;
    fastcgi_hide_header X-Powered-By;
    index index.php index.html /index.php$request_uri;
    location = / {{ if ( $http_user_agent ~ ^DavClnt ) {{ return 302 /remote.php/webdav/$is_args$args; }} }}
    location = /robots.txt {{ allow all; log_not_found off; access_log off; }}
    location ^~ /.well-known {{
        location = /.well-known/carddav {{ return 301 /remote.php/dav/; }}
        location = /.well-known/caldav  {{ return 301 /remote.php/dav/; }}
        location /.well-known/acme-challenge {{ try_files $uri $uri/ =404; }}
        location /.well-known/pki-validation {{ try_files $uri $uri/ =404; }}
        return 301 /index.php$request_uri;
    }}
    location ~ ^/(?:build|tests|config|lib|3rdparty|templates|data)(?:$|/) {{ return 404; }}
    location ~ ^/(?:\.|autotest|occ|issue|indie|db_|console) {{ return 404; }}
    location ~ \.php(?:$|/) {{
        rewrite ^/(?!index|remote|public|cron|core\/ajax\/update|status|ocs\/v[12]|updater\/.+|ocs-provider\/.+|.+\/richdocumentscode(_arm64)?\/proxy) /index.php$request_uri;
        fastcgi_split_path_info ^(.+?\.php)(/.*)$;
        set $path_info $fastcgi_path_info;
        try_files $fastcgi_script_name =404;
        include fastcgi_params;
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PATH_INFO $path_info;
        fastcgi_param HTTPS on;
        fastcgi_param modHeadersAvailable true;
        fastcgi_param front_controller_active true;
        fastcgi_pass php-handler;
        fastcgi_intercept_errors on;
        fastcgi_request_buffering off;
        fastcgi_max_temp_file_size 0;
    }}
    location ~ \.(?:css|js|mjs|svg|gif|ico|jpg|png|webp|wasm|tflite|map|ogg|flac)$ {{
        try_files $uri /index.php$request_uri;
        add_header Cache-Control "public, max-age=15778463$asset_immutable";
        access_log off;
    }}
    location ~ \.woff2?$ {{ try_files $uri /index.php$request_uri; expires 7d; access_log off; }}
    location /remote {{ return 301 /remote.php$request_uri; }}
    location / {{ try_files $uri $uri/ /index.php$request_uri; }}
}}
"#
    )
}

/// PHP string literal.
fn php(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Nextcloud's settings (merged with the config.php its installer writes): the tenant's hosts
/// only, https as seen by users, Redis for locking and cache. Only the ingress namespace can
/// reach Nextcloud (network policy), so the forwarded headers of any pod address are trusted.
fn settings(tenant: &ValidTenant) -> String {
    let mut hosts = tenant.hosts.clone();
    // The office pool calls Nextcloud back at its in-cluster address (see `hook`).
    if tenant.collaboration.as_ref().is_some_and(|c| c.office.is_some()) {
        hosts.push(internal_web_host(&tenant.ine_code));
    }
    let domains: Vec<String> = hosts.iter().enumerate().map(|(i, h)| format!("{i} => {}", php(h))).collect();
    let url = format!("https://{}", tenant.hosts.first().map(String::as_str).unwrap_or_default());
    format!(
        r#"<?php
$CONFIG = array(
  'trusted_domains' => array({domains}),
  'overwriteprotocol' => 'https',
  'overwrite.cli.url' => {url},
  'trusted_proxies' => array('10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fd00::/8'),
  'forwarded_for_headers' => array('HTTP_X_FORWARDED_FOR'),
  'check_data_directory_permissions' => false,
  'memcache.local' => '\OC\Memcache\APCu',
  'memcache.distributed' => '\OC\Memcache\Redis',
  'memcache.locking' => '\OC\Memcache\Redis',
  'redis' => array('host' => 'redis', 'port' => {REDIS_PORT}, 'password' => getenv('REDIS_HOST_PASSWORD')),
  'default_phone_region' => 'ES',
  'default_language' => 'es',
  'maintenance_window_start' => 1,
);
"#,
        domains = domains.join(", "),
        url = php(&url),
    )
}

/// Run by the image before php-fpm starts, once installed: background jobs by cron, and the
/// office pool registered (or unregistered) as the province has it. Nextcloud and the pool talk
/// inside the cluster (the network policies allow only that); browsers reach the pool at its
/// public URL, which the pool announces itself (`server_name`).
fn hook(tenant: &ValidTenant) -> String {
    let office = tenant.collaboration.as_ref().and_then(|c| c.office.as_ref());
    let office = match office {
        Some(pool) => format!(
            "php /var/www/html/occ app:install richdocuments || php /var/www/html/occ app:enable richdocuments\n\
             php /var/www/html/occ config:app:set richdocuments wopi_url --value={service}\n\
             php /var/www/html/occ config:app:set richdocuments wopi_callback_url --value=http://{callback}:{WEB_PORT}\n",
            service = pool.service,
            callback = internal_web_host(&tenant.ine_code),
        ),
        None => "php /var/www/html/occ app:disable richdocuments || true\n".to_owned(),
    };
    format!("#!/bin/sh\nset -eu\nphp /var/www/html/occ background:cron\n{office}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{municipality, valid};

    #[test]
    fn settings_trust_the_tenant_hosts_only_and_register_the_office_pool() {
        let mut m = municipality("leon", "24089");
        m.spec.collaboration.enabled = true;
        m.spec.domains = vec!["nube.aytoleon.es".into()];
        let config = &Config::build(&valid(&m), &Context::default())[0];
        let data = config.data.as_ref().unwrap();
        assert!(data[SETTINGS].contains("0 => 'leon.nube.dipuleon.es', 1 => 'nube.aytoleon.es'"), "{}", data[SETTINGS]);
        assert!(data[SETTINGS].contains("'overwrite.cli.url' => 'https://leon.nube.dipuleon.es'"));
        assert!(data[HOOK].contains("wopi_url --value=http://office.concejo-office-24.svc.cluster.local:9980"));
        assert!(data[HOOK].contains("wopi_callback_url --value=http://nextcloud.muni-24089.svc.cluster.local:8080"));
        assert!(data[SETTINGS].contains("2 => 'nextcloud.muni-24089.svc.cluster.local'"), "{}", data[SETTINGS]);
        assert!(data[NGINX].contains("listen 8080;") && data[NGINX].contains("Strict-Transport-Security"));
        assert!(Config::build(&valid(&municipality("leon", "24089")), &Context::default()).is_empty());
    }
}
