# daemon/evidence: the investigator's verify command, for ordinary PCs.
#   make verify-tool   builds $(OUT)/matthan-verify (this machine), and
#                      $(OUT)/matthan-verify-linux-amd64 and
#                      $(OUT)/matthan-verify-windows-amd64.exe (pure Go, static);
#                      `make build` builds them too
.PHONY: verify-tool
build: verify-tool
verify-tool:
	@mkdir -p $(OUT)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(OUT)/matthan-verify ./daemon/cmd/matthan-verify
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -o $(OUT)/matthan-verify-linux-amd64 ./daemon/cmd/matthan-verify
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -o $(OUT)/matthan-verify-windows-amd64.exe ./daemon/cmd/matthan-verify
