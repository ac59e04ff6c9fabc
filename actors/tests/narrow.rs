//! A listing over `-` by a caller who may not list in all namespaces is narrowed to the
//! namespaces it may list in, checking each namespace that holds Results, up to
//! `MAX_LISTED_NAMESPACES` of them; beyond that it is refused with a message saying what to
//! do instead, before any namespace is checked one by one.

use std::sync::Arc;
use std::time::Duration;

use results_actors::auth::{Credentials, Resource};
use results_actors::limits::MAX_LISTED_NAMESPACES;
use results_actors::model::{ListScope, NewResult, ResultName, Timestamp};
use results_actors::{
    ActorSettings, Actors, Backend, ErrorCode, Gate, SystemClock, TokenSigner, UuidGen,
};
use results_storage::store::create_result;
use results_storage::testing::TestDb;

const TOKENS: &str = r#"
[[subjects]]
name = "lister"
token = "lister-token"
[[subjects.grants]]
namespaces = ["ns-00007", "ns-00042", "elsewhere"]
resources = ["results"]
verbs = ["list"]
"#;

#[actix_rt::test]
async fn wildcard_listings_check_at_most_the_limit_of_namespaces() {
    let db = TestDb::migrated(Backend::Sqlite);
    {
        let mut conn = db.database().get().unwrap();
        for i in 0..MAX_LISTED_NAMESPACES {
            let name = ResultName::parse(&format!("ns-{i:05}/results/r")).unwrap();
            let new = NewResult {
                name,
                annotations: Default::default(),
                summary: None,
            };
            create_result(&mut conn, new, format!("uid-{i}"), Timestamp::from_nanos(1)).unwrap();
        }
    }
    let actors = Actors::start(
        db.database().clone(),
        None,
        TokenSigner::random(),
        Arc::new(SystemClock),
        Arc::new(UuidGen),
        ActorSettings::default(),
    );
    let dir = std::env::temp_dir().join(format!("narrow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens.toml");
    std::fs::write(&file, TOKENS).unwrap();
    let gate = Gate::static_tokens(file.to_str().unwrap(), Duration::from_secs(10)).unwrap();
    let caller = Credentials {
        token: Some("lister-token".into()),
        ..Credentials::default()
    };

    let narrowed = gate
        .narrow(&caller, Resource::Results, ListScope::Any, &actors)
        .await
        .unwrap();
    assert_eq!(
        narrowed,
        ListScope::Among(vec!["ns-00007".into(), "ns-00042".into()]),
        "only namespaces holding results, and only those granted"
    );

    let mut conn = db.database().get().unwrap();
    let name = ResultName::parse("one-too-many/results/r").unwrap();
    let new = NewResult {
        name,
        annotations: Default::default(),
        summary: None,
    };
    create_result(&mut conn, new, "uid-last".into(), Timestamp::from_nanos(1)).unwrap();
    let refused = gate
        .narrow(&caller, Resource::Results, ListScope::Any, &actors)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::PermissionDenied, "{refused}");
    let message = refused.to_string();
    assert!(
        message.contains(&MAX_LISTED_NAMESPACES.to_string()) && message.contains("one namespace"),
        "{message}"
    );
    // A literal namespace is still checked as it is.
    let literal = ListScope::Exactly("ns-00042".into());
    assert_eq!(
        gate.narrow(&caller, Resource::Results, literal.clone(), &actors)
            .await
            .unwrap(),
        literal
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
