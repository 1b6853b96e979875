package mb

// Tables for the CABAC encoder of the tests (pcm_test.go).
var (
	CABACInitMN = &cabacInitMN
	RangeTabLPS = &rangeTabLPS
	TransIdxLPS = &transIdxLPS
)
