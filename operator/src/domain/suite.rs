//! The collaboration suite's size: what each workload requests and may use, from the plan's
//! users, and the volumes from the tenant's storage. Shared by validation (does the suite fit
//! the plan?) and the builders, so that what is checked is what is deployed.

use super::quantity;
use crate::api::v1alpha1::ServicePlanSpec;

/// CPU in millicores and memory in MiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub cpu_m: i64,
    pub memory_mi: i64,
}

impl Size {
    pub fn cpu(&self) -> String {
        format!("{}m", self.cpu_m)
    }
    pub fn memory(&self) -> String {
        format!("{}Mi", self.memory_mi)
    }
    fn add(self, other: Size) -> Size {
        Size { cpu_m: self.cpu_m + other.cpu_m, memory_mi: self.memory_mi + other.memory_mi }
    }
}

/// What one container requests, and the most it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Container {
    pub request: Size,
    pub limit: Size,
}

/// The suite's containers, each sized for `users` people. A village (5 users) requests 265m CPU
/// and 414Mi in all; limits let each burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// php-fpm running Nextcloud.
    pub nextcloud: Container,
    /// The unprivileged nginx in front of it.
    pub web: Container,
    pub postgres: Container,
    pub redis: Container,
    /// Nextcloud's background jobs, every 5 minutes (one pod while it runs).
    pub cron: Container,
    /// A backup, restore or drill run, when the tenant is backed up (one pod while it runs).
    pub backup: Option<Container>,
}

/// What a backup, restore or drill run's containers request and may use
/// (`resources::backup::pod`); a tenant's runs go one at a time.
pub const BACKUP_RUN: Container =
    Container { request: Size { cpu_m: 100, memory_mi: 256 }, limit: Size { cpu_m: 1000, memory_mi: 1024 } };

/// Pods the suite runs at most at once: Nextcloud, PostgreSQL, Redis and a background-jobs run.
pub const PODS: i64 = 4;

fn container(request: Size, least_limit: Size) -> Container {
    let limit = Size {
        cpu_m: (request.cpu_m * 2).max(least_limit.cpu_m),
        memory_mi: (request.memory_mi * 2).max(least_limit.memory_mi),
    };
    Container { request, limit }
}

impl Sizing {
    pub fn for_users(users: i32) -> Sizing {
        let u = i64::from(users.max(1));
        let fixed = |cpu_m, memory_mi| Size { cpu_m, memory_mi };
        Sizing {
            nextcloud: container(fixed(100 + 4 * u, 128 + 4 * u), fixed(500, 512)),
            web: container(fixed(20, 32), fixed(200, 64)),
            postgres: container(fixed(50 + u, 96 + 2 * u), fixed(300, 256)),
            redis: container(fixed(20, 32), fixed(100, 64)),
            cron: container(fixed(50, 96), fixed(200, 256)),
            backup: None,
        }
    }

    /// The same, with room for a backup run.
    pub fn with_backups(self) -> Sizing {
        Sizing { backup: Some(BACKUP_RUN), ..self }
    }

    /// Pods at most at once.
    pub fn pods(&self) -> i64 {
        PODS + i64::from(self.backup.is_some())
    }

    /// Every container with its name.
    pub fn containers(&self) -> Vec<(&'static str, Container)> {
        let mut all = vec![
            ("nextcloud", self.nextcloud),
            ("web", self.web),
            ("postgres", self.postgres),
            ("redis", self.redis),
            ("cron", self.cron),
        ];
        all.extend(self.backup.map(|b| ("backup", b)));
        all
    }

    /// The sum of requests.
    pub fn requests(&self) -> Size {
        self.containers().iter().fold(Size::default(), |sum, (_, c)| sum.add(c.request))
    }

    /// The sum of limits.
    pub fn limits(&self) -> Size {
        self.containers().iter().fold(Size::default(), |sum, (_, c)| sum.add(c.limit))
    }
}

const GI: i128 = 1 << 30;

/// The database volume for a file volume of `data` bytes: a tenth of it, at least 1Gi, in whole Gi.
pub fn database_volume(data: i128) -> i128 {
    let tenth = data / 10;
    ((tenth + GI - 1) / GI).max(1) * GI
}

/// `bytes` as the API server would print a whole number of Gi or Mi.
pub fn bytes(bytes: i128) -> String {
    if bytes % GI == 0 { format!("{}Gi", bytes / GI) } else { format!("{}Mi", (bytes + (1 << 20) - 1) >> 20) }
}

/// The claim holding Nextcloud's files.
pub const FILES_VOLUME: &str = "nextcloud-data";
/// The claim holding PostgreSQL's data.
pub const DATABASE_VOLUME: &str = "postgres-data";

/// The plan's storage quota, when volumes of `storage` bytes in all exceed it: "250Gi > 200Gi".
pub fn storage_shortfall(plan: &ServicePlanSpec, storage: i128) -> Option<String> {
    let quota = plan.quota.storage.as_ref()?;
    let limit = quantity::parse_milli(quota)?;
    (storage * 1000 > limit).then(|| format!("requests.storage {} > {quota}", bytes(storage)))
}

/// Where the suite (sized `sizing`) exceeds the plan: each as "requests.cpu 4500m > 4" or
/// "container nextcloud limit 1500m > limitRange.maxCpu 1".
pub fn shortfalls(plan: &ServicePlanSpec, sizing: &Sizing) -> Vec<String> {
    let milli = |q: &str| quantity::parse_milli(q).unwrap_or(i128::MAX);
    let (cpu, memory) = (milli(&plan.quota.cpu), milli(&plan.quota.memory));
    let mib = |s: &Size| i128::from(s.memory_mi) * (1 << 20) * 1000;
    let mut short = vec![];
    let (requests, limits) = (sizing.requests(), sizing.limits());
    for (what, size) in [("requests", requests), ("limits", limits)] {
        if i128::from(size.cpu_m) > cpu {
            short.push(format!("{what}.cpu {} > {}", size.cpu(), plan.quota.cpu));
        }
        if mib(&size) > memory {
            short.push(format!("{what}.memory {} > {}", size.memory(), plan.quota.memory));
        }
    }
    if sizing.pods() > i64::from(plan.quota.pods) {
        short.push(format!("pods {} > {}", sizing.pods(), plan.quota.pods));
    }
    let (max_cpu, max_memory) = (milli(&plan.limit_range.max_cpu), milli(&plan.limit_range.max_memory));
    for (name, c) in sizing.containers() {
        if i128::from(c.limit.cpu_m) > max_cpu {
            short.push(format!(
                "container {name} limit {} > limitRange.maxCpu {}",
                c.limit.cpu(),
                plan.limit_range.max_cpu
            ));
        }
        if mib(&c.limit) > max_memory {
            short.push(format!(
                "container {name} limit {} > limitRange.maxMemory {}",
                c.limit.memory(),
                plan.limit_range.max_memory
            ));
        }
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::plan;

    #[test]
    fn a_village_suite_requests_at_most_half_a_cpu_and_512mi() {
        let village = Sizing::for_users(5);
        assert_eq!(village.requests(), Size { cpu_m: 265, memory_mi: 414 });
        assert!(village.requests().cpu_m <= 500 && village.requests().memory_mi <= 512);
        // Limits let it burst above the requests.
        assert!(village.limits().cpu_m > village.requests().cpu_m);
    }

    #[test]
    fn the_costs_in_docs_collaboration_md_are_these() {
        let cost = |users| {
            let s = Sizing::for_users(users);
            (s.requests().cpu(), s.requests().memory(), s.limits().cpu(), s.limits().memory())
        };
        let text = |a: &str, b: &str, c: &str, d: &str| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned());
        assert_eq!(cost(5), text("265m", "414Mi", "1300m", "1152Mi"));
        assert_eq!(cost(25), text("365m", "534Mi", "1300m", "1188Mi"));
        assert_eq!(cost(150), text("990m", "1284Mi", "2300m", "2632Mi"));
        assert_eq!(database_volume(500 * GI), 50 * GI);
    }

    #[test]
    fn more_users_get_more() {
        let (small, big) = (Sizing::for_users(5), Sizing::for_users(150));
        assert!(big.nextcloud.request.cpu_m > small.nextcloud.request.cpu_m);
        assert!(big.postgres.request.memory_mi > small.postgres.request.memory_mi);
    }

    #[test]
    fn the_database_volume_is_a_tenth_of_the_files_at_least_1gi() {
        assert_eq!(database_volume(100 * GI), 10 * GI);
        assert_eq!(database_volume(5 * GI), GI);
        assert_eq!(database_volume(25 * GI), 3 * GI);
        assert_eq!(bytes(3 * GI), "3Gi");
    }

    #[test]
    fn a_suite_larger_than_the_plan_is_named_with_its_numbers() {
        let town = plan("town", "4").spec;
        assert!(shortfalls(&town, &Sizing::for_users(25)).is_empty());
        assert!(shortfalls(&town, &Sizing::for_users(25).with_backups()).is_empty());
        assert_eq!(storage_shortfall(&town, 110 * GI), None);
        let tiny = plan("tiny", "200m").spec;
        let short = shortfalls(&tiny, &Sizing::for_users(25));
        assert!(short.contains(&"requests.cpu 365m > 200m".to_owned()), "{short:?}");
        assert!(short.contains(&"limits.cpu 1300m > 200m".to_owned()), "{short:?}");
        // A backed-up tenant needs room for one run more: 100m requested, 1 CPU and 1Gi at most.
        let short = shortfalls(&tiny, &Sizing::for_users(25).with_backups());
        assert!(short.contains(&"requests.cpu 465m > 200m".to_owned()), "{short:?}");
        assert!(short.contains(&"limits.cpu 2300m > 200m".to_owned()), "{short:?}");
        assert_eq!(storage_shortfall(&town, 300 * GI).unwrap(), "requests.storage 300Gi > 200Gi");
    }
}
