//! Anonymised aggregates: economists see holdings by district or sector, never a cell that
//! identifies an enterprise.

use super::common::*;

#[tokio::test]
async fn small_cells_are_suppressed_and_enterprises_are_refused() {
    for server in servers().await {
        server.setup().await;
        server.issue(COD, A, "100").await;
        server.issue(COD, B, "7").await;
        for by in ["district", "sector"] {
            let answer = server
                .get(
                    &format!("/v1/statistics/holdings?by={by}"),
                    Some(&server.economist),
                )
                .await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            let cells = answer.body["cells"].as_array().expect("cells");
            assert!(!cells.is_empty());
            // Two enterprises only: every cell has fewer than three holders.
            for cell in cells {
                assert_eq!(cell["suppressed"], true, "{cell}");
                assert!(
                    cell["held"].is_null() && cell["holders"].is_null(),
                    "{cell}"
                );
            }
            let text = answer.body.to_string();
            assert!(!text.contains(A) && !text.contains(B), "no credit code");
            assert!(!text.contains("100") && !text.contains("107"), "{text}");
        }
        server
            .get(
                "/v1/statistics/holdings?by=district",
                Some(&server.enterprise_a),
            )
            .await
            .problem(403, "forbidden");
        server
            .get("/v1/statistics/holdings?by=owner", Some(&server.economist))
            .await
            .problem(422, "invalid_field");
    }
}
