# helm for test/helm-chart.test.ts (built from the Go module proxy; skipped with a clear line where Go is missing).
bash .ci/setup-helm
