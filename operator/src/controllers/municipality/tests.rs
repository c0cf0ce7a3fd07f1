//! The reconcile's request sequences against a scripted API server (tower-test): what a
//! reconcile asks of Kubernetes, request by request.
