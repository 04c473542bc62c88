//! The journal feed: server-sent events with `id:` = seq, resumed after `Last-Event-ID`.

use std::time::Duration;

use super::common::*;

/// Reads the feed until `count` events have arrived, returning their ids.
async fn read_ids(mut response: reqwest::Response, count: usize) -> Vec<u64> {
    let mut text = String::new();
    let mut ids = Vec::new();
    while ids.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("event in time")
            .expect("chunk")
            .expect("open stream");
        text.push_str(&String::from_utf8_lossy(&chunk));
        ids = text
            .lines()
            .filter_map(|line| {
                line.strip_prefix("id: ")
                    .or_else(|| line.strip_prefix("id:"))
            })
            .filter_map(|id| id.trim().parse().ok())
            .collect();
    }
    ids
}

#[tokio::test]
async fn the_feed_resumes_after_last_event_id_and_follows_new_entries() {
    for server in servers().await {
        server.setup().await;
        server.issue(COD, A, "10").await;
        let head = server.head().await;
        let response = server
            .client
            .get(format!("{}/v1/stream/journal", server.base))
            .bearer_auth(&server.bureau)
            .header("last-event-id", "1")
            .send()
            .await
            .expect("connect");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap_or("")
                .starts_with("text/event-stream")
        );
        // A new entry while the client listens arrives after the backlog.
        server.issue(COD, B, "5").await;
        let ids = read_ids(response, (head as usize - 1) + 1).await;
        assert_eq!(ids, (2..=head + 1).collect::<Vec<_>>());

        server
            .get("/v1/stream/journal?after=zero", Some(&server.bureau))
            .await
            .problem(422, "invalid_field");
    }
}
