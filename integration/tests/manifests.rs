//! The Kubernetes manifests in `config/` against the code they deploy. Every YAML file
//! parses and is reachable from a variant's kustomization or an add-on's (cert-manager);
//! each variant, rendered by `kubectl kustomize` exactly as `kubectl apply -k` would apply
//! it, holds only fields the Kubernetes API knows, feeds its ConfigMaps through the
//! binaries' real `Settings`, and agrees with them on ports, probes, URLs, images, volumes,
//! TLS files, auth and RBAC.

use results_grpc::settings::Layered as _;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, KeyToPath, PersistentVolumeClaim, PodSpec, PodTemplateSpec, Secret,
    Service, ServiceAccount, ServicePort,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::{Metadata, NamespaceResourceScope, Resource};
use results_actors::Backend;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where Tekton, and so Tekton Results, lives.
const NAMESPACE: &str = "tekton-pipelines";
/// Our images are `<repository><binary>:<workspace version>`.
const IMAGE_REPOSITORY: &str = "ghcr.io/tekton-results-rs/";
/// The installable variants: directory under `config/`, and the database it uses.
const VARIANTS: [(&str, Backend); 2] = [("", Backend::Postgres), ("sqlite", Backend::Sqlite)];
/// Directories under `config/` applied beside a variant, never alone, and rendered by their
/// own tests.
const ADD_ONS: [&str; 1] = ["cert-manager"];
/// The Secret (type kubernetes.io/tls) with the API's certificate and key, and the CA that
/// clients trust.
const TLS_SECRET: &str = "tekton-results-tls";

type Grants = BTreeSet<(String, String, String)>;

/// The API's probe paths, in the order startup, readiness, liveness: the process is alive
/// when it answers at all; it is ready when its database answers.
const PROBE_PATHS: [&str; 3] = ["/healthz", "/readyz", "/healthz"];

fn config_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    dir.canonicalize().expect("config/ exists")
}

/// The YAML documents of `text`, empty ones left out.
fn documents(text: &str, origin: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{origin}: not YAML: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The files as they are in the repository.

fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().and_then(|e| e.to_str());
        if path.is_dir() {
            yaml_files(&path, found);
        } else if matches!(ext, Some("yaml" | "yml")) {
            found.push(path);
        }
    }
}

/// Follows the kustomization in `dir`, recording every file it uses, itself included.
fn reach(dir: &Path, reached: &mut BTreeSet<PathBuf>) {
    let file = dir.join("kustomization.yaml");
    let origin = file.display().to_string();
    assert!(file.is_file(), "{origin} is missing");
    if !reached.insert(file.clone()) {
        return;
    }
    let [doc] = &documents(&std::fs::read_to_string(&file).unwrap(), &origin)[..] else {
        panic!("{origin}: one document expected");
    };
    let doc = doc.as_object().unwrap();
    // What this walk follows; generators, components and the like could bring in files
    // it would not see.
    let known = ["apiVersion", "kind", "namespace", "resources", "patches"];
    if let Some(key) = doc.keys().find(|k| !known.contains(&k.as_str())) {
        panic!("{origin}: `{key}` is not followed by this test; teach it");
    }
    if let Some(ns) = doc.get("namespace") {
        assert_eq!(ns, NAMESPACE, "{origin}: namespace");
    }
    let list = |key: &str| {
        doc.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let patches = list("patches").into_iter().map(|p| p["path"].clone());
    for entry in list("resources").into_iter().chain(patches) {
        let entry = entry
            .as_str()
            .unwrap_or_else(|| panic!("{origin}: {entry} is no path"));
        let Ok(path) = dir.join(entry).canonicalize() else {
            panic!("{origin} lists {entry}, which does not exist");
        };
        if path.is_dir() {
            reach(&path, reached);
        } else {
            reached.insert(path);
        }
    }
}

#[test]
fn every_yaml_file_is_a_kubernetes_object_that_a_variant_applies() {
    let config = config_dir();
    let mut files = Vec::new();
    yaml_files(&config, &mut files);
    for file in &files {
        let origin = file.display().to_string();
        let docs = documents(&std::fs::read_to_string(file).unwrap(), &origin);
        assert!(!docs.is_empty(), "{origin} holds no document");
        for doc in docs {
            let field = |pointer| doc.pointer(pointer).and_then(Value::as_str).unwrap_or("");
            assert!(
                !field("/apiVersion").is_empty(),
                "{origin}: an object without apiVersion"
            );
            assert!(
                !field("/kind").is_empty(),
                "{origin}: an object without kind"
            );
            if field("/kind") != "Kustomization" {
                assert!(
                    !field("/metadata/name").is_empty(),
                    "{origin}: an object without a name"
                );
            }
        }
    }

    let mut reached = BTreeSet::new();
    let variants = VARIANTS.iter().map(|(variant, _)| *variant);
    for dir in variants.chain(ADD_ONS) {
        reach(&config.join(dir), &mut reached);
    }
    let unreached: Vec<_> = files.iter().filter(|f| !reached.contains(*f)).collect();
    assert!(
        unreached.is_empty(),
        "applied by no variant (config/, config/sqlite) nor add-on {ADD_ONS:?}: {unreached:?}"
    );
}

// ---------------------------------------------------------------------------------------
// A variant as `kubectl apply -k` sees it.

/// The objects of one rendered variant, typed.
#[derive(Default)]
struct Objects {
    variant: String,
    deployments: Vec<Deployment>,
    stateful_sets: Vec<StatefulSet>,
    services: Vec<Service>,
    config_maps: Vec<ConfigMap>,
    secrets: Vec<Secret>,
    service_accounts: Vec<ServiceAccount>,
    claims: Vec<PersistentVolumeClaim>,
    cluster_roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    /// Roles and RoleBindings, all in [`NAMESPACE`].
    roles: Vec<Role>,
    role_bindings: Vec<RoleBinding>,
    /// cert-manager's Issuers and Certificates, untyped: k8s-openapi does not know them, so
    /// their fields are not checked against an API here.
    cert_manager: Vec<Value>,
}

/// The pods of a Deployment or StatefulSet.
struct Workload<'a> {
    kind: &'static str,
    name: &'a str,
    template: &'a PodTemplateSpec,
    pod: &'a PodSpec,
}

impl<'a> Workload<'a> {
    fn new(kind: &'static str, meta: &'a ObjectMeta, template: &'a PodTemplateSpec) -> Self {
        let pod = template.spec.as_ref().expect("a pod spec");
        let name = name(meta);
        Workload {
            kind,
            name,
            template,
            pod,
        }
    }
}

/// The Deployment that runs one of our binaries, and its container.
struct App<'a> {
    deployment: &'a Deployment,
    pod: &'a PodSpec,
    container: &'a Container,
}

impl App<'_> {
    /// The labels of the Deployment's pods.
    fn pod_labels(&self) -> Option<&BTreeMap<String, String>> {
        let spec = self.deployment.spec.as_ref()?;
        spec.template.metadata.as_ref()?.labels.as_ref()
    }
}

/// `kubectl kustomize config/<variant>`, parsed.
fn render(variant: &str) -> Objects {
    let dir = config_dir().join(variant);
    let out = Command::new("kubectl").arg("kustomize").arg(&dir).output();
    let out = out.unwrap_or_else(|e| {
        panic!(
            "cannot run kubectl ({e}): this test renders config/ with `kubectl kustomize`, as \
             `kubectl apply -k` does, and needs kubectl on PATH"
        )
    });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl kustomize {}: {stderr}",
        dir.display()
    );
    let at = format!("config/{variant}");
    let mut o = Objects {
        variant: at.clone(),
        ..Objects::default()
    };
    for doc in documents(&String::from_utf8(out.stdout).unwrap(), &at) {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        match (api_version, doc["kind"].as_str().unwrap_or_default()) {
            ("apps/v1", "Deployment") => typed(&doc, &at, &mut o.deployments),
            ("apps/v1", "StatefulSet") => typed(&doc, &at, &mut o.stateful_sets),
            ("v1", "Service") => typed(&doc, &at, &mut o.services),
            ("v1", "ConfigMap") => typed(&doc, &at, &mut o.config_maps),
            ("v1", "Secret") => typed(&doc, &at, &mut o.secrets),
            ("v1", "ServiceAccount") => typed(&doc, &at, &mut o.service_accounts),
            ("v1", "PersistentVolumeClaim") => typed(&doc, &at, &mut o.claims),
            (_, "ClusterRole") => typed(&doc, &at, &mut o.cluster_roles),
            (_, "ClusterRoleBinding") => typed(&doc, &at, &mut o.bindings),
            (_, "Role") => typed(&doc, &at, &mut o.roles),
            (_, "RoleBinding") => typed(&doc, &at, &mut o.role_bindings),
            ("cert-manager.io/v1", "Issuer" | "Certificate") => {
                let ns = doc.pointer("/metadata/namespace").and_then(Value::as_str);
                assert_eq!(ns, Some(NAMESPACE), "{at}: {}: namespace", doc["kind"]);
                o.cert_manager.push(doc);
            }
            other => panic!("{at}: {other:?} is a kind this test does not check yet; teach it"),
        }
    }
    o
}

/// Parses `doc` as a `K`, insisting that nothing is lost on the way (a misspelt or
/// misplaced field would be dropped here, and ignored by Kubernetes), and that namespaced
/// objects, and only they, sit in [`NAMESPACE`].
fn typed<K>(doc: &Value, at: &str, into: &mut Vec<K>)
where
    K: Resource + Metadata<Ty = ObjectMeta> + DeserializeOwned + Serialize,
    K::Scope: 'static,
{
    let kind = K::KIND;
    let object: K = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{at}: a {kind} that does not parse: {e}"));
    let name = name(object.metadata());
    if let Some(path) = difference(doc, &serde_json::to_value(&object).unwrap(), String::new()) {
        panic!("{at}: {kind} {name}: `{path}` is not a field of the Kubernetes API");
    }
    let namespaced =
        std::any::TypeId::of::<K::Scope>() == std::any::TypeId::of::<NamespaceResourceScope>();
    let ns = object.metadata().namespace.as_deref();
    assert_eq!(
        ns,
        namespaced.then_some(NAMESPACE),
        "{at}: {kind} {name}: namespace"
    );
    into.push(object);
}

/// The first path where `a` holds something `b` lacks or holds differently.
fn difference(a: &Value, b: &Value, path: String) -> Option<String> {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| match b.get(k) {
            Some(w) => difference(v, w, format!("{path}.{k}")),
            None => Some(format!("{path}.{k}")),
        }),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => (a.iter().zip(b).enumerate())
            .find_map(|(i, (v, w))| difference(v, w, format!("{path}[{i}]"))),
        _ => (a != b).then_some(path),
    }
}

fn name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn labels(template: &PodTemplateSpec) -> BTreeMap<String, String> {
    let meta = template.metadata.as_ref();
    meta.and_then(|m| m.labels.clone()).unwrap_or_default()
}

fn service_ports(service: &Service) -> &[ServicePort] {
    service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
}

/// The port a Service port sends to, by name or number.
fn target(port: &ServicePort) -> IntOrString {
    port.target_port
        .clone()
        .unwrap_or(IntOrString::Int(port.port))
}

/// The container port that a Service's targetPort or a probe names, as (name, number).
fn container_port(pod: &PodSpec, port: &IntOrString) -> Option<(String, u16)> {
    let mut ports = pod.containers.iter().flat_map(|c| c.ports.iter().flatten());
    let found = ports.find(|p| match port {
        IntOrString::Int(n) => p.container_port == *n,
        IntOrString::String(s) => p.name.as_deref() == Some(s),
    });
    found.map(|p| (p.name.clone().unwrap_or_default(), p.container_port as u16))
}

/// The number of the port named `port_name` of `c`.
fn named_port(c: &Container, port_name: &str) -> u16 {
    let mut ports = c.ports.iter().flatten();
    let found = ports.find(|p| p.name.as_deref() == Some(port_name));
    let found = found.unwrap_or_else(|| panic!("container {} has no port {port_name}", c.name));
    found.container_port as u16
}

impl Objects {
    fn workloads(&self) -> Vec<Workload<'_>> {
        let deployments = (self.deployments.iter()).map(|d| {
            Workload::new(
                "Deployment",
                &d.metadata,
                &d.spec.as_ref().unwrap().template,
            )
        });
        let sets = (self.stateful_sets.iter()).map(|s| {
            Workload::new(
                "StatefulSet",
                &s.metadata,
                &s.spec.as_ref().unwrap().template,
            )
        });
        deployments.chain(sets).collect()
    }

    /// The one Deployment that runs `binary`.
    fn app(&self, binary: &str) -> App<'_> {
        let image = format!("{IMAGE_REPOSITORY}{binary}:");
        let mut found = Vec::new();
        for deployment in &self.deployments {
            let pod = deployment
                .spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap();
            for container in &pod.containers {
                if container
                    .image
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with(&image)
                {
                    found.push(App {
                        deployment,
                        pod,
                        container,
                    });
                }
            }
        }
        let count = found.len();
        assert_eq!(
            count, 1,
            "{}: {count} Deployments run {binary}",
            self.variant
        );
        found.remove(0)
    }

    fn secret_value(&self, secret: &str, key: &str) -> String {
        let at = &self.variant;
        let found = self.secrets.iter().find(|s| name(&s.metadata) == secret);
        let s = found.unwrap_or_else(|| panic!("{at}: no Secret {secret}"));
        let from_data = || {
            let bytes = s.data.as_ref()?.get(key)?;
            Some(String::from_utf8(bytes.0.clone()).unwrap())
        };
        let from_string = s.string_data.as_ref().and_then(|d| d.get(key)).cloned();
        from_string
            .or_else(from_data)
            .unwrap_or_else(|| panic!("{at}: Secret {secret} has no key {key}"))
    }

    /// The container's environment as its process sees it: literal values, and values
    /// from this variant's Secrets.
    fn env(&self, c: &Container) -> BTreeMap<String, String> {
        let at = format!("{}: container {}", self.variant, c.name);
        assert!(c.env_from.is_none(), "{at}: envFrom is not modelled here");
        let mut env = BTreeMap::new();
        for var in c.env.iter().flatten() {
            let secret = var.value_from.as_ref().map(|from| {
                // The downward API: the pod's name (as a Deployment's pods are named) and
                // namespace.
                if let Some(field) = &from.field_ref {
                    return match field.field_path.as_str() {
                        "metadata.name" => format!("{}-7d9f8b6c5-x2k4q", c.name),
                        "metadata.namespace" => NAMESPACE.to_owned(),
                        other => panic!("{at}: {}: fieldRef {other} is not modelled", var.name),
                    };
                }
                let secret = from.secret_key_ref.as_ref();
                let secret = secret.unwrap_or_else(|| panic!("{at}: {}: not modelled", var.name));
                self.secret_value(&secret.name, &secret.key)
            });
            let value = secret.or(var.value.clone()).unwrap_or_default();
            assert!(
                !value.contains("$("),
                "{at}: {}: $(VAR) is not expanded here",
                var.name
            );
            env.insert(var.name.clone(), value);
        }
        env
    }

    /// The file that the app's `--config` names, from the ConfigMap mounted there, and
    /// where it came from.
    fn config_file(&self, app: &App<'_>) -> (String, String) {
        let (at, c) = (&self.variant, app.container);
        let args = c.args.as_deref().unwrap_or_default();
        let flag = args.iter().position(|a| a == "--config");
        let path = flag.and_then(|i| args.get(i + 1));
        let path = path.unwrap_or_else(|| panic!("{at}: {} is not given --config FILE", c.name));
        let mount = (c.volume_mounts.iter().flatten())
            .filter(|m| path.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/'))))
            .max_by_key(|m| m.mount_path.len())
            .unwrap_or_else(|| panic!("{at}: {path} is on no volume"));
        assert!(
            mount.sub_path.is_none(),
            "{at}: subPath mounts are not modelled"
        );
        let volume = app
            .pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .unwrap();
        let source = volume.config_map.as_ref();
        let source = source.unwrap_or_else(|| panic!("{at}: {path} is not on a ConfigMap"));
        assert!(
            source.items.is_none(),
            "{at}: ConfigMap items are not modelled"
        );
        let key = &path[mount.mount_path.trim_end_matches('/').len() + 1..];
        let map = self
            .config_maps
            .iter()
            .find(|m| name(&m.metadata) == source.name);
        let map = map.unwrap_or_else(|| panic!("{at}: no ConfigMap {}", source.name));
        let text = map.data.as_ref().and_then(|d| d.get(key));
        let text = text.unwrap_or_else(|| panic!("{at}: ConfigMap {} has no {key}", source.name));
        (
            text.clone(),
            format!("{at}: ConfigMap {} key {key}", source.name),
        )
    }

    fn api_settings(&self) -> (App<'_>, results_grpc::settings::Settings) {
        let app = self.app("results-api");
        let (text, origin) = self.config_file(&app);
        let env = self.env(app.container);
        let settings = results_grpc::settings::Settings::from_toml(&text, &origin, &env);
        (app, settings.unwrap_or_else(|e| panic!("{e}")))
    }

    /// The API's settings file as plain TOML, with the container's `RESULTS_<SECTION>_<KEY>`
    /// variables laid over it as `Settings` lays them. For the `[auth]` keys, which the
    /// `Settings` of this branch may not know yet; [`Objects::api_settings`] reads the same
    /// file through the real `Settings`.
    fn api_raw_settings(&self) -> (App<'_>, RawSettings) {
        let app = self.app("results-api");
        let (text, origin) = self.config_file(&app);
        let table = toml::from_str(&text).unwrap_or_else(|e| panic!("{origin}: {e}"));
        let env = self.env(app.container);
        (app, RawSettings { table, env })
    }

    /// Where the file `path` that `app` reads comes from. It must lie on a volume mounted
    /// read-only and whole: a subPath mount never sees a Secret's or a token's updates.
    fn file_source(&self, app: &App<'_>, path: &str) -> FileSource {
        let (at, c) = (&self.variant, app.container);
        let mount = (c.volume_mounts.iter().flatten())
            .filter(|m| path.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/'))))
            .max_by_key(|m| m.mount_path.len())
            .unwrap_or_else(|| panic!("{at}: {}: {path} is on no volume", c.name));
        let at = format!("{at}: {}: {path}", c.name);
        let whole = mount.sub_path.is_none() && mount.sub_path_expr.is_none();
        assert!(whole, "{at}: a subPath mount, which never sees updates");
        assert_eq!(mount.read_only, Some(true), "{at}: mounted writable");
        let volume = (app.pod.volumes.iter().flatten()).find(|v| v.name == mount.name);
        let volume = volume.unwrap_or_else(|| panic!("{at}: no volume {}", mount.name));
        let file = &path[mount.mount_path.trim_end_matches('/').len() + 1..];
        // `items` map keys to file names; without them every key is a file of its name.
        let key_of = |items: &Option<Vec<KeyToPath>>| match items {
            None => Some(file.to_string()),
            Some(items) => (items.iter().find(|i| i.path == file)).map(|i| i.key.clone()),
        };
        if let Some(secret) = &volume.secret {
            let name = secret.secret_name.clone().unwrap_or_default();
            let key = key_of(&secret.items).unwrap_or_else(|| panic!("{at}: not in {name}"));
            return FileSource::Secret { name, key };
        }
        for source in (volume.projected.iter()).flat_map(|p| p.sources.iter().flatten()) {
            if let Some(token) = source.service_account_token.as_ref() {
                if token.path == file {
                    let audience = token.audience.clone();
                    return FileSource::Token { audience };
                }
            }
            if let Some(secret) = &source.secret {
                assert!(
                    secret.items.is_some(),
                    "{at}: projected Secret without items"
                );
                if let Some(key) = key_of(&secret.items) {
                    let name = secret.name.clone();
                    return FileSource::Secret { name, key };
                }
            }
        }
        FileSource::Other(volume.name.clone())
    }

    fn watcher_settings(&self) -> (App<'_>, results_watcher::settings::Settings) {
        let app = self.app("results-watcher");
        let (text, origin) = self.config_file(&app);
        let env = self.env(app.container);
        let settings = results_watcher::settings::Settings::from_toml(&text, &origin, &env);
        let mut settings = settings.unwrap_or_else(|e| panic!("{e}"));
        // As the binary does; the service account's namespace file is not modelled.
        settings.leader.fill_from_pod(&env, || None);
        (app, settings)
    }

    fn service(&self, wanted: &str) -> &Service {
        let found = self.services.iter().find(|s| name(&s.metadata) == wanted);
        found.unwrap_or_else(|| panic!("{}: no Service {wanted}", self.variant))
    }

    /// The Services whose selector picks the workload's pods.
    fn services_of(&self, w: &Workload<'_>) -> Vec<&Service> {
        let labels = labels(w.template);
        let selects = |s: &&Service| {
            let selector = s.spec.as_ref().and_then(|s| s.selector.as_ref());
            selector.is_some_and(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
        };
        self.services.iter().filter(selects).collect()
    }

    /// The one workload whose pods `service` selects.
    fn workload_of(&self, service: &Service) -> Workload<'_> {
        let mut found: Vec<_> = (self.workloads().into_iter())
            .filter(|w| {
                self.services_of(w)
                    .iter()
                    .any(|s| s.metadata == service.metadata)
            })
            .collect();
        let (count, svc) = (found.len(), name(&service.metadata));
        assert_eq!(
            count, 1,
            "{}: Service {svc} selects {count} workloads",
            self.variant
        );
        found.remove(0)
    }

    /// The container port behind port number `port` of `service`, as (name, number).
    fn service_port(&self, service: &Service, port: u16) -> (String, u16) {
        let (at, svc) = (&self.variant, name(&service.metadata));
        let found = service_ports(service)
            .iter()
            .find(|p| p.port == i32::from(port));
        let found = found.unwrap_or_else(|| panic!("{at}: Service {svc} has no port {port}"));
        let w = self.workload_of(service);
        container_port(w.pod, &target(found))
            .unwrap_or_else(|| panic!("{at}: Service {svc} port {port} reaches no container port"))
    }

    /// The Service a URL names (`svc`, `svc.ns`, `svc.ns.svc` or `svc.ns.svc.cluster.local`),
    /// and the port it asks for.
    fn service_in_url(&self, url: &url::Url) -> (&Service, u16) {
        let host = url.host_str().unwrap_or_default();
        let (service, domain) = host.split_once('.').unwrap_or((host, ""));
        let (svc, full) = (
            format!("{NAMESPACE}.svc"),
            format!("{NAMESPACE}.svc.cluster.local"),
        );
        let domains = ["", NAMESPACE, &svc, &full];
        assert!(
            domains.contains(&domain),
            "{url}: not a Service in {NAMESPACE}"
        );
        (self.service(service), url.port_or_known_default().unwrap())
    }

    fn cluster_role(&self, wanted: &str) -> &ClusterRole {
        let found = self
            .cluster_roles
            .iter()
            .find(|r| name(&r.metadata) == wanted);
        found.unwrap_or_else(|| panic!("{}: no ClusterRole {wanted}", self.variant))
    }

    /// What the RoleBindings give the service account `sa` in [`NAMESPACE`] (and only
    /// there).
    fn granted_in_namespace_to(&self, sa: &str) -> Grants {
        let mut set = Grants::new();
        for binding in &self.role_bindings {
            let mut subjects = binding.subjects.iter().flatten();
            if subjects.any(|s| s.kind == "ServiceAccount" && s.name == sa) {
                let rules = match binding.role_ref.kind.as_str() {
                    "Role" => {
                        let role = self
                            .roles
                            .iter()
                            .find(|r| name(&r.metadata) == binding.role_ref.name);
                        let role = role.unwrap_or_else(|| {
                            panic!("{}: no Role {}", self.variant, binding.role_ref.name)
                        });
                        role.rules.clone()
                    }
                    _ => self.cluster_role(&binding.role_ref.name).rules.clone(),
                };
                set.extend(grants(rules.as_deref().unwrap_or_default(), &self.variant));
            }
        }
        set
    }

    /// What the bindings give the service account `sa` of [`NAMESPACE`].
    fn granted_to(&self, sa: &str) -> Grants {
        let mut set = Grants::new();
        for binding in &self.bindings {
            let mut subjects = binding.subjects.iter().flatten();
            if subjects.any(|s| s.kind == "ServiceAccount" && s.name == sa) {
                let role = self.cluster_role(&binding.role_ref.name);
                set.extend(grants(
                    role.rules.as_deref().unwrap_or_default(),
                    &self.variant,
                ));
            }
        }
        set
    }
}

/// Settings read as written: a `[section]`'s `key`, or the environment variable
/// `RESULTS_<SECTION>_<KEY>`, which wins.
struct RawSettings {
    table: toml::Table,
    env: BTreeMap<String, String>,
}

impl RawSettings {
    /// The value as text (strings unquoted), if set.
    fn get(&self, section: &str, key: &str) -> Option<String> {
        let var = format!("RESULTS_{section}_{key}").to_ascii_uppercase();
        if let Some(value) = self.env.get(&var) {
            return Some(value.clone());
        }
        match self.table.get(section)?.get(key)? {
            toml::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

/// What a mounted file holds, as far as these manifests go.
#[derive(Debug, PartialEq)]
enum FileSource {
    /// Key `key` of the Secret `name`.
    Secret { name: String, key: String },
    /// The pod's service-account token for `audience` (`None`: the Kubernetes API's own).
    Token { audience: Option<String> },
    /// A volume of another kind, named.
    Other(String),
}

/// `(group, resource, verb)` of every rule, refusing what cannot be compared so.
fn grants(rules: &[PolicyRule], at: &str) -> Grants {
    let mut set = Grants::new();
    for rule in rules {
        let narrowed = rule.resource_names.is_some() || rule.non_resource_urls.is_some();
        assert!(
            !narrowed,
            "{at}: resourceNames and nonResourceURLs are not modelled"
        );
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    assert!(
                        ![group, resource, verb].contains(&&"*".into()),
                        "{at}: wildcard"
                    );
                    set.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    set
}

fn triples(group: &str, resources: &[&str], verbs: &[&str]) -> Grants {
    let mut set = Grants::new();
    for resource in resources {
        for verb in verbs {
            set.insert((group.into(), resource.to_string(), verb.to_string()));
        }
    }
    set
}

// ---------------------------------------------------------------------------------------
// Checks of every variant.

#[test]
fn images_carry_the_workspace_version() {
    let version = env!("CARGO_PKG_VERSION");
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        for binary in ["results-api", "results-watcher"] {
            let image = objects.app(binary).container.image.clone();
            assert_eq!(
                image,
                Some(format!("{IMAGE_REPOSITORY}{binary}:{version}")),
                "{at}"
            );
        }
        for c in objects.workloads().iter().flat_map(|w| &w.pod.containers) {
            let image = c.image.as_deref().unwrap_or_default();
            if let Some(ours) = image.strip_prefix(IMAGE_REPOSITORY) {
                let tag = ours.split_once(':').map(|(_, tag)| tag);
                assert_eq!(tag, Some(version), "{at}: {image}");
            }
        }
    }
}

#[test]
fn api_settings_ports_and_probes_agree_with_the_deployment() {
    for (variant, backend) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        let (app, settings) = objects.api_settings();
        let (c, pod) = (app.container, app.pod);
        let server = &settings.server;
        assert_eq!(
            Backend::from_url(&settings.database.url).unwrap(),
            backend,
            "{at}"
        );

        let api = objects.service("tekton-results-api-service");
        for (port_name, addr) in [("grpc", server.grpc_addr), ("http", server.rest_addr)] {
            assert!(
                addr.ip().is_unspecified(),
                "{at}: API listens on {addr}, not 0.0.0.0"
            );
            assert_eq!(
                named_port(c, port_name),
                addr.port(),
                "{at}: container port {port_name}"
            );
            let sp = service_ports(api)
                .iter()
                .find(|p| p.name.as_deref() == Some(port_name));
            let sp = sp.unwrap_or_else(|| panic!("{at}: the API Service has no port {port_name}"));
            let behind = objects.service_port(api, sp.port as u16);
            assert_eq!(
                behind,
                (port_name.to_string(), addr.port()),
                "{at}: Service port"
            );
        }

        let rest = server.rest_addr.port();
        let probes = [&c.startup_probe, &c.readiness_probe, &c.liveness_probe];
        assert!(
            c.readiness_probe.is_some() && c.liveness_probe.is_some(),
            "{at}: probes"
        );
        let scheme = if settings.tls_files().is_some() {
            "HTTPS"
        } else {
            "HTTP"
        };
        for (probe, path) in probes.into_iter().zip(PROBE_PATHS) {
            let Some(probe) = probe else { continue };
            let get = probe.http_get.as_ref().expect("an HTTP probe");
            assert_eq!(get.path.as_deref(), Some(path), "{at}: probe path");
            let used = get.scheme.as_deref().unwrap_or("HTTP");
            assert_eq!(
                used, scheme,
                "{at}: the probes speak what the REST port serves"
            );
            let port = container_port(pod, &get.port).map(|(_, number)| number);
            assert_eq!(port, Some(rest), "{at}: probes go to the REST port");
        }

        // Prometheus is told where /metrics is: the REST port, in the scheme it speaks.
        let spec = app.deployment.spec.as_ref().unwrap();
        let meta = spec.template.metadata.as_ref();
        let annotations = meta.and_then(|m| m.annotations.clone()).unwrap_or_default();
        let annotation = |key: &str| annotations.get(key).map(String::as_str);
        assert_eq!(annotation("prometheus.io/scrape"), Some("true"), "{at}");
        assert_eq!(annotation("prometheus.io/path"), Some("/metrics"), "{at}");
        assert_eq!(
            annotation("prometheus.io/port"),
            Some(rest.to_string().as_str()),
            "{at}: prometheus.io/port"
        );
        assert_eq!(
            annotation("prometheus.io/scheme").unwrap_or("http"),
            scheme.to_lowercase(),
            "{at}: prometheus.io/scheme"
        );

        let grace = pod.termination_grace_period_seconds.unwrap_or(30);
        assert!(
            grace as u64 > server.shutdown_grace_secs,
            "{at}: terminationGracePeriod"
        );
        let replicas = app.deployment.spec.as_ref().unwrap().replicas.unwrap_or(1);
        let shared_key = !settings.paging.token_key.is_empty();
        assert!(
            replicas == 1 || shared_key,
            "{at}: replicas need paging.token_key"
        );
        if backend == Backend::Postgres {
            assert_eq!(
                replicas, 2,
                "{at}: the PostgreSQL variant runs two API replicas"
            );
            let from_secret = (c.env.iter().flatten())
                .find(|v| v.name == "RESULTS_PAGING_TOKEN_KEY")
                .and_then(|v| v.value_from.as_ref())
                .and_then(|from| from.secret_key_ref.as_ref());
            assert!(
                from_secret.is_some(),
                "{at}: the shared key comes from a Secret"
            );
        }
        if replicas > 1 {
            // A ReadWriteOnce volume is shared only on one node: replicas mounting one must
            // be kept together.
            let rwo = (pod.volumes.iter().flatten())
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .filter_map(|c| {
                    objects
                        .claims
                        .iter()
                        .find(|pvc| name(&pvc.metadata) == c.claim_name)
                })
                .any(|pvc| {
                    let modes = pvc.spec.as_ref().and_then(|s| s.access_modes.clone());
                    modes
                        .unwrap_or_default()
                        .iter()
                        .any(|m| m == "ReadWriteOnce")
                });
            let together = kept_on_one_node(&app);
            assert!(
                !rwo || together,
                "{at}: {replicas} replicas mount a ReadWriteOnce volume on different nodes"
            );
        }
    }
}

#[test]
fn the_api_checks_tokens_with_kubernetes_and_serves_tls_from_the_mounted_secret() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        let (app, raw) = objects.api_raw_settings();
        let c = app.container;

        let mode = raw.get("auth", "mode");
        assert_eq!(mode.as_deref(), Some("kubernetes"), "{at}: auth.mode");
        let forced = raw.get("auth", "allow_unauthenticated_network");
        assert_ne!(
            forced.as_deref(),
            Some("true"),
            "{at}: auth.allow_unauthenticated_network is for `none`, which these manifests never run"
        );
        let addr = |key| {
            let value = raw.get("server", key);
            let value =
                value.unwrap_or_else(|| panic!("{at}: server.{key} is the default, loopback"));
            value.parse::<std::net::SocketAddr>().unwrap()
        };
        for key in ["grpc_addr", "rest_addr"] {
            let ip = addr(key).ip();
            assert!(
                !ip.is_loopback(),
                "{at}: server.{key} on {ip}: no Service reaches it"
            );
        }

        // Both files from the Secret, whose updates reach the pod (file_source: no subPath).
        for (key, in_secret) in [("tls_cert_file", "tls.crt"), ("tls_key_file", "tls.key")] {
            let path = raw.get("server", key).unwrap_or_default();
            assert!(!path.is_empty(), "{at}: server.{key} unset: no TLS");
            let wanted = FileSource::Secret {
                name: TLS_SECRET.into(),
                key: in_secret.into(),
            };
            assert_eq!(
                objects.file_source(&app, &path),
                wanted,
                "{at}: server.{key}"
            );
        }

        // TokenReviews and SubjectAccessReviews are made with the pod's own token.
        let sa = app.pod.service_account_name.as_deref().unwrap_or("default");
        let account = objects
            .service_accounts
            .iter()
            .find(|a| name(&a.metadata) == sa);
        let automount = (app.pod.automount_service_account_token)
            .or(account.and_then(|a| a.automount_service_account_token));
        assert_ne!(
            automount,
            Some(false),
            "{at}: the API gets no token to ask reviews with"
        );

        // Probes: HTTPS (gRPC probes cannot speak TLS) on the REST port.
        let rest = addr("rest_addr").port();
        let probes = [&c.startup_probe, &c.readiness_probe, &c.liveness_probe];
        for (probe, path) in probes.into_iter().zip(PROBE_PATHS) {
            let Some(probe) = probe else { continue };
            let get = probe.http_get.as_ref().expect("an HTTP probe");
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"), "{at}: probe scheme");
            assert_eq!(get.path.as_deref(), Some(path), "{at}: probe path");
            let port = container_port(app.pod, &get.port).map(|(_, number)| number);
            assert_eq!(port, Some(rest), "{at}: probes go to the REST port");
        }
    }
}

#[test]
fn watcher_settings_reach_the_api_and_expose_metrics() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        let (app, settings) = objects.watcher_settings();
        let spec = app.deployment.spec.as_ref().unwrap();
        // Two watchers, of which the Lease's holder reconciles: in the pod's namespace,
        // which its Role covers, each replica named after its pod.
        assert_eq!(spec.replicas, Some(2), "{at}: a watcher and a stand-by");
        assert!(
            settings.leader.enabled,
            "{at}: two replicas need leader election"
        );
        assert_eq!(
            settings.leader.namespace, NAMESPACE,
            "{at}: leader.namespace"
        );
        assert!(
            settings.leader.identity.starts_with("results-watcher-"),
            "{at}: leader.identity {:?} is not the pod's name",
            settings.leader.identity
        );

        // api.url names the API's gRPC port, through a Service, over TLS; the watcher
        // trusts the CA of the API's Secret and sends its own service-account token.
        let url = url::Url::parse(&settings.api.url).unwrap();
        assert_eq!(url.scheme(), "https", "{at}: the API serves only TLS");
        let ca = FileSource::Secret {
            name: TLS_SECRET.into(),
            key: "ca.crt".into(),
        };
        let ca_file = &settings.api.ca_file;
        assert_eq!(objects.file_source(&app, ca_file), ca, "{at}: api.ca_file");
        // Without an audience the token is for the Kubernetes API, which is what a
        // TokenReview without audiences accepts.
        let token = FileSource::Token { audience: None };
        let token_file = &settings.api.token_file;
        assert_eq!(
            objects.file_source(&app, token_file),
            token,
            "{at}: api.token_file"
        );
        // The API's private key stays with the API: of its Secret, the watcher mounts ca.crt.
        let mut mounted = BTreeSet::new();
        for volume in app.pod.volumes.iter().flatten() {
            let projected = volume.projected.iter();
            let projected = projected.flat_map(|p| p.sources.iter().flatten());
            let projected = projected.filter_map(|s| s.secret.as_ref());
            let projected = projected.map(|s| (Some(s.name.as_str()), &s.items));
            let plain = volume.secret.iter();
            let secrets = projected.chain(plain.map(|s| (s.secret_name.as_deref(), &s.items)));
            for (_, items) in secrets.filter(|(secret, _)| *secret == Some(TLS_SECRET)) {
                match items {
                    Some(items) => mounted.extend(items.iter().map(|i| i.key.as_str())),
                    None => _ = mounted.insert("every key"),
                }
            }
        }
        assert_eq!(
            mounted,
            BTreeSet::from(["ca.crt"]),
            "{at}: what the watcher mounts of {TLS_SECRET}"
        );
        let (service, port) = objects.service_in_url(&url);
        let api = objects.app("results-api");
        let selected = objects.workload_of(service).name;
        assert_eq!(
            selected,
            name(&api.deployment.metadata),
            "{at}: {url} is not the API"
        );
        let grpc = ("grpc".to_string(), named_port(api.container, "grpc"));
        assert_eq!(objects.service_port(service, port), grpc, "{at}: {url}");

        // metrics.addr is the container port `metrics`, which Prometheus is told about.
        let addr: std::net::SocketAddr = settings.metrics.addr.parse().expect("metrics on");
        assert!(
            addr.ip().is_unspecified(),
            "{at}: metrics on {addr}, not 0.0.0.0"
        );
        assert_eq!(
            named_port(app.container, "metrics"),
            addr.port(),
            "{at}: metrics port"
        );
        let meta = spec.template.metadata.as_ref();
        let annotations = meta.and_then(|m| m.annotations.clone()).unwrap_or_default();
        if let Some(p) = annotations.get("prometheus.io/port") {
            assert_eq!(p, &addr.port().to_string(), "{at}: prometheus.io/port");
        }
        let workloads = objects.workloads();
        let watcher = workloads
            .iter()
            .find(|w| w.name == name(&app.deployment.metadata));
        let metrics = Some(("metrics".to_string(), addr.port()));
        let exposed = (objects.services_of(watcher.unwrap()).iter())
            .flat_map(|s| service_ports(s))
            .any(|p| container_port(app.pod, &target(p)) == metrics);
        assert!(exposed, "{at}: no Service exposes the watcher's metrics");

        // The liveness probe asks the metrics endpoint's /healthz.
        let probe = app
            .container
            .liveness_probe
            .as_ref()
            .expect("a liveness probe");
        let get = probe.http_get.as_ref().expect("an HTTP probe");
        assert_eq!(get.path.as_deref(), Some("/healthz"), "{at}: probe path");
        let port = container_port(app.pod, &get.port).map(|(_, number)| number);
        assert_eq!(
            port,
            Some(addr.port()),
            "{at}: the probe goes to the metrics port"
        );
    }
}

#[test]
fn services_and_selectors_match_real_pods_and_ports() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        for service in &objects.services {
            let (svc, w) = (name(&service.metadata), objects.workload_of(service));
            for p in service_ports(service) {
                let found = container_port(w.pod, &target(p));
                let found = found.unwrap_or_else(|| {
                    panic!(
                        "{at}: Service {svc} port {} reaches no port of {}",
                        p.port, w.name
                    )
                });
                assert_eq!(
                    p.name.as_ref(),
                    Some(&found.0),
                    "{at}: Service {svc}: port names"
                );
            }
        }
        let selectors = (objects
            .deployments
            .iter()
            .map(|d| &d.spec.as_ref().unwrap().selector))
        .chain(
            objects
                .stateful_sets
                .iter()
                .map(|s| &s.spec.as_ref().unwrap().selector),
        );
        for (w, selector) in objects.workloads().iter().zip(selectors) {
            let (labels, wanted) = (labels(w.template), selector.match_labels.clone());
            let wanted = wanted.unwrap_or_default();
            let matches = wanted.iter().all(|(k, v)| labels.get(k) == Some(v));
            assert!(
                !wanted.is_empty() && matches,
                "{at}: {} {}: selector",
                w.kind,
                w.name
            );
        }
    }
}

#[test]
fn containers_run_unprivileged_with_bounded_resources() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        for w in objects.workloads() {
            let pod_context = w.pod.security_context.as_ref();
            let pod_non_root = pod_context.and_then(|s| s.run_as_non_root);
            for c in &w.pod.containers {
                let at = format!("{}: {} {}: {}", objects.variant, w.kind, w.name, c.name);
                let sc = c.security_context.clone().unwrap_or_default();
                assert_eq!(
                    sc.run_as_non_root.or(pod_non_root),
                    Some(true),
                    "{at}: non-root"
                );
                assert_eq!(
                    sc.allow_privilege_escalation,
                    Some(false),
                    "{at}: escalation"
                );
                assert_eq!(
                    sc.read_only_root_filesystem,
                    Some(true),
                    "{at}: read-only root"
                );
                let dropped = sc.capabilities.and_then(|c| c.drop).unwrap_or_default();
                assert_eq!(dropped, ["ALL"], "{at}: capabilities.drop");
                let resources = c.resources.clone().unwrap_or_default();
                let requests = resources.requests.unwrap_or_default();
                let limits = resources.limits.unwrap_or_default();
                let requested = ["cpu", "memory"].iter().all(|r| requests.contains_key(*r));
                assert!(requested, "{at}: cpu and memory requests");
                assert!(limits.contains_key("memory"), "{at}: memory limit");
            }
        }
    }
}

#[test]
fn the_watcher_and_the_api_are_granted_exactly_what_they_use() {
    // The watcher: its own Kubernetes calls, and results-api's readwrite role, for the
    // SubjectAccessReviews the API asks about it.
    let mut required = Grants::new();
    for (group, resource, verbs) in results_watcher::REQUIRED_PERMISSIONS {
        required.extend(triples(group, &[resource], verbs));
    }
    let things = ["results", "records", "logs"];
    let readwrite = ["get", "list", "create", "update"];
    required.extend(triples("results.tekton.dev", &things, &readwrite));
    // The API: the two reviews of the kubernetes auth mode.
    let mut reviews = triples("authentication.k8s.io", &["tokenreviews"], &["create"]);
    reviews.extend(triples(
        "authorization.k8s.io",
        &["subjectaccessreviews"],
        &["create"],
    ));
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let at = &objects.variant;
        let account = |binary| {
            let sa = objects.app(binary).pod.service_account_name.clone();
            sa.unwrap_or_else(|| panic!("{at}: {binary} runs as the default service account"))
        };
        let watcher_account = account("results-watcher");
        let watcher = objects.granted_to(&watcher_account);
        assert_eq!(
            watcher, required,
            "{at}: the watcher's RBAC is not REQUIRED_PERMISSIONS plus tekton-results-readwrite"
        );
        let mut leases = Grants::new();
        for (group, resource, verbs) in results_watcher::LEASE_PERMISSIONS {
            leases.extend(triples(group, &[resource], verbs));
        }
        assert_eq!(
            objects.granted_in_namespace_to(&watcher_account),
            leases,
            "{at}: the watcher's Role in {NAMESPACE} is not LEASE_PERMISSIONS"
        );
        assert!(
            objects
                .granted_in_namespace_to(&account("results-api"))
                .is_empty(),
            "{at}: the API needs no Role"
        );
        // By the user role itself, so that it follows what users are told to bind.
        let bound = objects.bindings.iter().any(|b| {
            let mut subjects = b.subjects.iter().flatten();
            b.role_ref.name == "tekton-results-readwrite"
                && subjects.any(|s| s.kind == "ServiceAccount" && s.name == watcher_account)
        });
        assert!(
            bound,
            "{at}: the watcher is not bound to tekton-results-readwrite"
        );
        let api = objects.granted_to(&account("results-api"));
        assert_eq!(
            api, reviews,
            "{at}: the API's RBAC is not exactly TokenReviews and SubjectAccessReviews"
        );
    }
}

#[test]
fn bindings_and_pods_name_roles_and_service_accounts_that_exist() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let accounts = objects.service_accounts.iter().map(|s| name(&s.metadata));
        let accounts: BTreeSet<_> = accounts.collect();
        for binding in &objects.bindings {
            let at = format!(
                "{}: ClusterRoleBinding {}",
                objects.variant,
                name(&binding.metadata)
            );
            assert_eq!(binding.role_ref.kind, "ClusterRole", "{at}");
            objects.cluster_role(&binding.role_ref.name);
            let subjects = binding.subjects.as_deref().unwrap_or_default();
            assert!(!subjects.is_empty(), "{at}: no subjects");
            for s in subjects {
                assert_eq!(
                    s.kind, "ServiceAccount",
                    "{at}: people are bound by the installer"
                );
                assert_eq!(s.namespace.as_deref(), Some(NAMESPACE), "{at}: {}", s.name);
                assert!(
                    accounts.contains(s.name.as_str()),
                    "{at}: no ServiceAccount {}",
                    s.name
                );
            }
        }
        for binding in &objects.role_bindings {
            let at = format!(
                "{}: RoleBinding {}",
                objects.variant,
                name(&binding.metadata)
            );
            let role = &binding.role_ref;
            match role.kind.as_str() {
                "Role" => assert!(
                    objects.roles.iter().any(|r| name(&r.metadata) == role.name),
                    "{at}: no Role {}",
                    role.name
                ),
                _ => _ = objects.cluster_role(&role.name),
            }
            for s in binding.subjects.as_deref().unwrap_or_default() {
                assert_eq!(s.kind, "ServiceAccount", "{at}");
                assert!(
                    accounts.contains(s.name.as_str()),
                    "{at}: no ServiceAccount {}",
                    s.name
                );
            }
        }
        for w in objects.workloads() {
            if let Some(sa) = &w.pod.service_account_name {
                let at = format!("{}: {} {}", objects.variant, w.kind, w.name);
                assert!(
                    accounts.contains(sa.as_str()),
                    "{at}: no ServiceAccount {sa}"
                );
            }
        }
    }
}

#[test]
fn user_roles_follow_the_auth_contract() {
    let things = ["results", "records", "logs"];
    let roles: [(&str, &[&str]); 3] = [
        ("tekton-results-readonly", &["get", "list"]),
        (
            "tekton-results-readwrite",
            &["get", "list", "create", "update"],
        ),
        (
            "tekton-results-admin",
            &["get", "list", "create", "update", "delete"],
        ),
    ];
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        for (role, verbs) in roles {
            let rules = objects.cluster_role(role).rules.clone().unwrap_or_default();
            let want = triples("results.tekton.dev", &things, verbs);
            assert_eq!(
                grants(&rules, &objects.variant),
                want,
                "{}: {role}",
                objects.variant
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// The databases.

/// Checks that `dir` lies on a writable volume of a PersistentVolumeClaim the variant
/// holds; `what` names the setting in failures.
fn on_a_claim(objects: &Objects, app: &App<'_>, dir: &Path, what: &str) {
    assert!(
        dir.is_absolute(),
        "{what}: relative to the image's working directory"
    );
    let mut mounts = app.container.volume_mounts.iter().flatten();
    let mount = mounts.find(|m| dir.starts_with(&m.mount_path));
    let mount = mount.unwrap_or_else(|| panic!("{what}: {} is on no volume", dir.display()));
    assert_ne!(
        mount.read_only,
        Some(true),
        "{what}: the volume is mounted read-only"
    );
    let volume = app
        .pod
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .unwrap();
    let claim = volume.persistent_volume_claim.as_ref().unwrap_or_else(|| {
        panic!(
            "{what}: {} is not on a PersistentVolumeClaim",
            dir.display()
        )
    });
    let claims = objects.claims.iter().map(|c| name(&c.metadata));
    assert!(
        claims
            .collect::<Vec<_>>()
            .contains(&claim.claim_name.as_str()),
        "{what}: no claim {}",
        claim.claim_name
    );
}

/// Whether the app's pods must all run on one node (required pod affinity to their own
/// labels by host name): then they can share a ReadWriteOnce volume.
fn kept_on_one_node(app: &App<'_>) -> bool {
    let labels = app.pod_labels().cloned().unwrap_or_default();
    (app.pod.affinity.as_ref())
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|terms| {
            terms.iter().any(|t| {
                let own = t
                    .label_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref());
                t.topology_key == "kubernetes.io/hostname"
                    && own.is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
            })
        })
}

#[test]
fn logs_lie_on_a_persistent_volume_in_every_variant() {
    for (variant, _) in VARIANTS {
        let objects = render(variant);
        let (app, settings) = objects.api_settings();
        assert_eq!(
            settings.logs.store,
            results_grpc::settings::LogStoreKind::Filesystem,
            "{variant:?}"
        );
        let what = format!("{variant:?}: logs.dir {}", settings.logs.dir);
        on_a_claim(&objects, &app, Path::new(&settings.logs.dir), &what);
        let spec = app.deployment.spec.as_ref().unwrap();
        let strategy = spec.strategy.as_ref().and_then(|s| s.type_.as_deref());
        // A new pod on another node would wait for the ReadWriteOnce volume forever.
        assert!(
            strategy == Some("Recreate") || kept_on_one_node(&app),
            "{what}: a rolling update would wait for the ReadWriteOnce volume"
        );
    }
}

#[test]
fn the_sqlite_file_lies_on_the_persistent_volume() {
    let objects = render("sqlite");
    let (app, settings) = objects.api_settings();
    let url = &settings.database.url;
    // As storage's `sqlite_path` reads it: everything after `sqlite://` (or `sqlite:`).
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"));
    let dir = Path::new(path.unwrap())
        .parent()
        .expect("a file in a directory");
    on_a_claim(&objects, &app, dir, url);

    let spec = app.deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1), "SQLite has one writing process");
    let strategy = spec.strategy.as_ref().and_then(|s| s.type_.as_deref());
    assert_eq!(
        strategy,
        Some("Recreate"),
        "a rolling update would open the file twice"
    );
    assert!(
        objects.stateful_sets.is_empty() && objects.secrets.is_empty(),
        "no PostgreSQL"
    );
}

#[test]
fn the_postgres_url_names_the_postgres_service_and_its_secret() {
    let objects = render("");
    let (app, settings) = objects.api_settings();
    let url = url::Url::parse(&settings.database.url).unwrap();
    let (service, port) = objects.service_in_url(&url);
    let headless = service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref());
    assert_eq!(headless, Some("None"), "the PostgreSQL Service is headless");
    let set = objects.workload_of(service);
    assert_eq!(set.kind, "StatefulSet", "{url}");
    let statefulset = objects
        .stateful_sets
        .iter()
        .find(|s| name(&s.metadata) == set.name);
    let service_name = statefulset
        .unwrap()
        .spec
        .as_ref()
        .unwrap()
        .service_name
        .as_deref();
    assert_eq!(
        service_name,
        Some(name(&service.metadata)),
        "StatefulSet serviceName"
    );
    assert_eq!(
        objects.service_port(service, port).1,
        5432,
        "{url}: PostgreSQL's port"
    );

    // PostgreSQL is set up from the Secret that holds the URL, and the two agree.
    let mut env = app.container.env.iter().flatten();
    let var = env
        .find(|v| v.name == "RESULTS_DATABASE_URL")
        .expect("RESULTS_DATABASE_URL");
    let from = var
        .value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.as_ref());
    let secret = &from
        .expect("the database URL, with its password, comes from a Secret")
        .name;
    let mut env_from = set.pod.containers[0].env_from.iter().flatten();
    let read = env_from.any(|e| e.secret_ref.as_ref().is_some_and(|s| &s.name == secret));
    assert!(read, "PostgreSQL does not read Secret {secret}");
    let value = |key| objects.secret_value(secret, key);
    assert_eq!(url.username(), value("POSTGRES_USER"), "{url}: user");
    assert_eq!(
        url.password(),
        Some(value("POSTGRES_PASSWORD").as_str()),
        "password"
    );
    assert_eq!(
        url.path(),
        format!("/{}", value("POSTGRES_DB")),
        "{url}: database"
    );
}

// ---------------------------------------------------------------------------------------
// The cert-manager add-on.

#[test]
fn cert_manager_writes_the_secret_that_the_api_serves_and_the_watcher_trusts() {
    let objects = render("cert-manager");
    let at = &objects.variant;
    let kind = |doc: &Value, k: &str| doc["kind"] == k;
    let certificate = (objects.cert_manager.iter())
        .filter(|d| kind(d, "Certificate"))
        .find(|d| d["spec"]["secretName"] == TLS_SECRET);
    let certificate =
        certificate.unwrap_or_else(|| panic!("{at}: no Certificate writes {TLS_SECRET}"));
    let spec = &certificate["spec"];

    // It names every host the watcher's api.url may use, in any variant.
    let names: Vec<_> = spec["dnsNames"].as_array().into_iter().flatten().collect();
    for (variant, _) in VARIANTS {
        let base = render(variant);
        let (_, settings) = base.watcher_settings();
        let url = url::Url::parse(&settings.api.url).unwrap();
        let host = url.host_str().unwrap_or_default();
        assert!(
            names.iter().any(|n| *n == host),
            "{at}: {host} is not in dnsNames"
        );
    }

    // Its Issuer is here and fills ca.crt: a CA Issuer (ca.crt = that CA), whose CA
    // certificate is issued here too.
    let issuer_named = |wanted: &Value| {
        assert_eq!(wanted["kind"], "Issuer", "{at}: issuerRef");
        let found = (objects.cert_manager.iter())
            .find(|d| kind(d, "Issuer") && d["metadata"]["name"] == wanted["name"]);
        found.unwrap_or_else(|| panic!("{at}: no Issuer {}", wanted["name"]))
    };
    let issuer = issuer_named(&spec["issuerRef"]);
    let ca_secret = &issuer["spec"]["ca"]["secretName"];
    assert!(
        ca_secret.is_string(),
        "{at}: {} is no CA Issuer",
        issuer["metadata"]["name"]
    );
    let ca = (objects.cert_manager.iter())
        .filter(|d| kind(d, "Certificate"))
        .find(|d| &d["spec"]["secretName"] == ca_secret);
    let ca = ca.unwrap_or_else(|| panic!("{at}: no Certificate writes {ca_secret}"));
    assert_eq!(ca["spec"]["isCA"], true, "{at}: {ca_secret} is no CA");
    let root = issuer_named(&ca["spec"]["issuerRef"]);
    assert!(
        root["spec"]["selfSigned"].is_object(),
        "{at}: the CA is not self-signed"
    );
}
