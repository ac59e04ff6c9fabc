//! Listings narrowed to a set of namespaces (what a caller may list when it asked for
//! `-`): Results, Records and summaries see exactly those namespaces, an empty set sees
//! nothing, page tokens of the client's `-` keep working, and the namespaces holding
//! Results are listed in order, on every backend.

use results_storage::model::{
    ListScope, NewRecord, NewResult, RecordData, RecordName, RecordScope, ResultName, Timestamp,
};
use results_storage::page::TokenSigner;
use results_storage::store::{
    create_record, create_result, list_records, list_results, record_list_summary, result_parents,
    ListRequest,
};
use results_storage::summary::{SummarySpec, SummaryValue};
use results_storage::testing::TestDb;
use results_storage::Backend;

const NAMESPACES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];

fn fill(db: &TestDb) {
    let mut conn = db.database().get().unwrap();
    let mut n = 0;
    for ns in NAMESPACES {
        for r in 0..3 {
            n += 1;
            let now = Timestamp::from_nanos(1_000 + n);
            let name = ResultName::parse(&format!("{ns}/results/r{r}")).unwrap();
            let result = NewResult {
                name,
                annotations: Default::default(),
                summary: None,
            };
            create_result(&mut conn, result, format!("result-{n}"), now).unwrap();
            let record = NewRecord {
                name: RecordName::parse(&format!("{ns}/results/r{r}/records/run")).unwrap(),
                data: RecordData::new("tekton.dev/v1.TaskRun".into(), b"{}".to_vec()).unwrap(),
            };
            create_record(&mut conn, record, format!("record-{n}"), now).unwrap();
        }
    }
}

fn among(namespaces: &[&str]) -> ListScope {
    ListScope::Among(namespaces.iter().map(|s| s.to_string()).collect())
}

fn request<S>(scope: S, page_size: i32) -> ListRequest<S> {
    ListRequest {
        scope,
        filter: String::new(),
        page_size,
        page_token: String::new(),
        order_by: String::new(),
    }
}

fn narrowed_listings_see_exactly_their_namespaces(backend: Backend) {
    let db = TestDb::migrated(backend);
    fill(&db);
    let signer = TokenSigner::new(b"k".to_vec());
    let mut conn = db.database().get().unwrap();

    assert_eq!(
        result_parents(&mut conn, 10).unwrap(),
        ["alpha", "beta", "delta", "gamma"]
    );
    assert_eq!(result_parents(&mut conn, 2).unwrap(), ["alpha", "beta"]);

    for (set, expected) in [
        (&["beta", "delta"][..], 6),
        (&["gamma"], 3),
        (&["nowhere"], 0),
        (&[], 0),
    ] {
        // Results, in pages of two: the tokens of the narrowed `-` carry on.
        let mut req = request(among(set), 2);
        let mut seen = Vec::new();
        loop {
            let page = list_results(&mut conn, &signer, &req).unwrap();
            seen.extend(page.items.into_iter().map(|r| r.name.parent));
            if page.next_page_token.is_empty() {
                break;
            }
            req.page_token = page.next_page_token;
        }
        assert_eq!(seen.len(), expected, "{set:?}: {seen:?}");
        assert!(seen.iter().all(|ns| set.contains(&ns.as_str())), "{seen:?}");

        let scope = RecordScope {
            parent: among(set),
            result: ListScope::Any,
        };
        let records = list_records(&mut conn, &signer, &request(scope.clone(), 100)).unwrap();
        assert_eq!(records.items.len(), expected, "{set:?}");
        assert!(records
            .items
            .iter()
            .all(|r| set.contains(&r.name.parent.as_str())));

        let spec = SummarySpec::parse("total", "", "").unwrap();
        let rows = record_list_summary(&mut conn, &scope, "", spec).unwrap();
        let total: f64 = rows
            .iter()
            .map(|row| match row.get("total") {
                Some(SummaryValue::Number(n)) => *n,
                _ => 0.0,
            })
            .sum();
        assert_eq!(total, expected as f64, "{set:?}: {rows:?}");
    }

    // A token issued for a client's `-` is valid for the same `-` narrowed, and back.
    let first = list_results(&mut conn, &signer, &request(ListScope::Any, 1)).unwrap();
    let mut narrowed = request(among(&["alpha", "beta"]), 1);
    narrowed.page_token = first.next_page_token;
    assert!(list_results(&mut conn, &signer, &narrowed).is_ok());
}

results_storage::on_every_backend!(narrowed_listings_see_exactly_their_namespaces);
