package webadmin

import (
	"net/http"
)

// Languages: Vietnamese first, English second.
const (
	langVI = "vi"
	langEN = "en"
)

// messages holds every user-facing string: key → [vi, en].
var messages = map[string][2]string{
	"app_name":                  {"Mắt Thần", "Mắt Thần"},
	"nav_live":                  {"Xem trực tiếp", "Live"},
	"nav_playback":              {"Xem lại", "Playback"},
	"nav_export":                {"Trích xuất", "Export"},
	"nav_search":                {"Tìm sự kiện", "Event search"},
	"nav_cameras":               {"Camera", "Cameras"},
	"nav_households":            {"Hộ gia đình", "Households"},
	"nav_users":                 {"Người dùng", "Users"},
	"nav_system":                {"Hệ thống", "System"},
	"nav_audit":                 {"Nhật ký hoạt động", "Activity log"},
	"nav_account":               {"Tài khoản", "Account"},
	"logout":                    {"Đăng xuất", "Log out"},
	"menu":                      {"Mục lục", "Menu"},
	"login":                     {"Đăng nhập", "Log in"},
	"remember":                  {"Ghi nhớ đăng nhập 30 ngày (chỉ trên máy riêng)", "Remember me for 30 days (own device only)"},
	"username":                  {"Tên đăng nhập", "User name"},
	"password":                  {"Mật khẩu", "Password"},
	"password_again":            {"Nhập lại mật khẩu", "Password again"},
	"setup_title":               {"Cài đặt lần đầu", "First-time setup"},
	"setup_intro":               {"Nhập mã cài đặt hiện trên màn hình điều khiển của đầu ghi (hoặc trong biên bản nạp phần mềm) và tạo tài khoản kỹ thuật viên.", "Enter the setup code shown on the console (or in the flash report) and create the technician account."},
	"setup_code":                {"Mã cài đặt", "Setup code"},
	"setup_create":              {"Tạo tài khoản kỹ thuật viên", "Create technician account"},
	"setup_done":                {"Đã cài đặt. Hãy đăng nhập.", "Setup is done. Please log in."},
	"err_setup_code":            {"Mã cài đặt không đúng.", "Wrong setup code."},
	"err_setup_done":            {"Đầu ghi đã được cài đặt.", "This box is already set up."},
	"err_login":                 {"Sai tên đăng nhập hoặc mật khẩu.", "Wrong user name or password."},
	"err_locked":                {"Quá nhiều lần thử sai. Vui lòng thử lại sau %d giây.", "Too many failed attempts. Try again in %d seconds."},
	"err_login_needed":          {"Phiên đăng nhập đã hết, vui lòng đăng nhập lại.", "Your session has ended; please log in again."},
	"err_forbidden":             {"Bạn không có quyền xem mục này.", "You are not allowed to see this."},
	"err_not_found":             {"Không tìm thấy.", "Not found."},
	"err_csrf":                  {"Phiên làm việc đã hết hạn, hãy tải lại trang.", "Your session token expired; reload the page."},
	"err_bad_name":              {"Tên chỉ gồm 2–32 chữ cái không dấu, số, dấu chấm, gạch dưới hoặc gạch ngang.", "Names are 2–32 ASCII letters, digits, '.', '_' or '-'."},
	"err_weak_password":         {"Mật khẩu quá dễ đoán: cần ít nhất 10 ký tự, không phải một ký tự lặp lại, không nằm trong danh sách mật khẩu phổ biến.", "The password is too easy to guess: at least 10 characters, not one character repeated, not a common password."},
	"err_password_match":        {"Hai mật khẩu không khớp.", "The two passwords differ."},
	"err_exists":                {"Tên này đã có.", "That name already exists."},
	"err_bad_request":           {"Yêu cầu không hợp lệ: %s", "Invalid request: %s"},
	"err_event_retention":       {"Chế độ hỗn hợp: số ngày lưu video có sự kiện phải lớn hơn số ngày lưu video thường.", "Mixed mode: event video must be kept more days than the rest."},
	"err_bad_time":              {"Thời gian không hợp lệ.", "Invalid time."},
	"err_bad_range":             {"Khoảng thời gian không hợp lệ (bắt đầu phải trước kết thúc, tối đa %d giờ).", "Invalid range (start before end, at most %d hours)."},
	"err_bad_url":               {"Địa chỉ RTSP không hợp lệ (phải bắt đầu bằng rtsp:// hoặc rtsps://).", "Invalid RTSP address (must start with rtsp:// or rtsps://)."},
	"err_bad_role":              {"Vai trò không hợp lệ.", "Invalid role."},
	"err_no_household":          {"Hộ gia đình không tồn tại.", "No such household."},
	"err_unavailable":           {"Chức năng này chưa có trên đầu ghi.", "This part is not available on the box yet."},
	"err_internal":              {"Lỗi hệ thống (mã lỗi %s).", "System error (error id %s)."},
	"err_camera_net":            {"Camera phải ở trong mạng camera (địa chỉ riêng như 192.168.x.x, 10.x.x.x).", "The camera must be on the camera network (a private address such as 192.168.x.x or 10.x.x.x)."},
	"probe_not_allowed":         {"địa chỉ không được phép", "address not allowed"},
	"probe_no_answer":           {"không kết nối được tới địa chỉ này", "no connection to this address"},
	"probe_not_rtsp":            {"thiết bị không trả lời như một camera RTSP", "the device does not answer as an RTSP camera"},
	"probe_auth":                {"sai tên đăng nhập hoặc mật khẩu camera", "wrong camera user name or password"},
	"probe_no_video":            {"camera không có luồng video", "the camera has no video stream"},
	"probe_mjpeg":               {"camera chỉ gửi MJPEG, hộp không ghi được: chọn H.264 hoặc H.265 trong cài đặt của camera", "the camera sends MJPEG only, which the box does not record: choose H.264 or H.265 in the camera's settings"},
	"err_probe":                 {"Không kết nối được camera: %s", "Could not connect to the camera: %s"},
	"err_no_video":              {"Không có đoạn ghi nào trong khoảng này.", "No recording in this range."},
	"err_bad_clip":              {"Khoảng thời gian không hợp lệ (bắt đầu phải trước kết thúc, tối đa %d phút).", "Invalid range (start before end, at most %d minutes)."},
	"err_clip_busy":             {"Đầu ghi đang cắt đoạn video khác. Vui lòng thử lại sau vài giây.", "The recorder is cutting other clips. Try again in a few seconds."},
	"err_self_delete":           {"Không thể xoá chính mình.", "You cannot delete yourself."},
	"err_disk":                  {"Không dùng được ổ này: %s", "This disk cannot be used: %s"},
	"disk_forgotten":            {"Đã bỏ ổ ghi hình. Hình ảnh được ghi vào thẻ nhớ.", "Recording disk forgotten. Video is recorded onto the SD card."},
	"disk_ready":                {"Đã chuẩn bị ổ. Hình ảnh mới được ghi vào ổ USB.", "The disk is ready. New video is recorded onto the USB disk."},
	"saved":                     {"Đã lưu.", "Saved."},
	"saved_restart":             {"Đã lưu, có hiệu lực sau khi khởi động lại thiết bị.", "Saved; it takes effect after the box restarts."},
	"saved_network":             {"Đã lưu. Đầu ghi dùng cấu hình mạng này từ lần khởi động lại tiếp theo: hãy ghi lại địa chỉ mới.", "Saved. The box uses this network setting from its next restart: note the new address."},
	"err_network":               {"Cấu hình mạng không hợp lệ: %s", "Invalid network setting: %s"},
	"role_technician":           {"Kỹ thuật viên", "Technician"},
	"role_officer":              {"Cán bộ công an", "Officer"},
	"role_household":            {"Hộ gia đình", "Household"},
	"tech_no_video":             {"Kỹ thuật viên không xem video của các hộ. Hãy dùng trang Hệ thống và Camera.", "Technicians do not see the households' video. Use the System and Cameras pages."},
	"clock_set":                 {"Đã đặt giờ của đầu ghi theo điện thoại. Các đoạn ghi vẫn được đánh dấu \"đồng hồ chưa đồng bộ\" cho đến khi đầu ghi lấy được giờ chuẩn qua mạng.", "The box's clock is set from your phone. Recordings stay marked \"clock not synchronised\" until the box gets the time from the network."},
	"clock_syncing":             {"Đang hỏi giờ các máy chủ thời gian…", "Asking the time servers…"},
	"err_clock_time":            {"Giờ gửi lên không hợp lệ: kiểm tra ngày giờ của điện thoại.", "The time sent is not valid: check your phone's date and time."},
	"err_clock_synced":          {"Đồng hồ của đầu ghi đang được đồng bộ qua mạng. Chỉ đặt giờ tay khi chắc chắn, và xác nhận.", "The box's clock is synchronised over the network. Set it by hand only if you are sure, and confirm."},
	"err_clock_back":            {"Đồng hồ của đầu ghi không bao giờ lùi quá %d phút (thời gian của các đoạn ghi không được lùi).", "The box's clock never goes back by more than %d minutes (recording times must not go back)."},
	"err_live_busy":             {"Đầu ghi đang phát trực tiếp cho quá nhiều người xem. Vui lòng thử lại sau.", "The box is showing live video to too many viewers. Try again later."},
	"err_live_codec":            {"Camera này không phát được qua WebRTC (%s).", "This camera cannot be shown over WebRTC (%s)."},
	"saved_district":            {"Đã lưu. Đầu ghi kết nối với máy chủ huyện bằng cấu hình này.", "Saved. The box connects to the district server with this setting."},
	"err_district":              {"Cấu hình kết nối huyện không hợp lệ: %s", "Invalid district setting: %s"},
	"err_no_updates":            {"Hộp này không cài được cập nhật từ trang (không chạy dưới chương trình khởi động của hộp).", "This box cannot install updates from the page (not running under the box's init)."},
	"err_bundle_too_large":      {"Tệp quá lớn để là gói cập nhật.", "The file is too large to be an update bundle."},
	"err_pair_gone":             {"Camera mới này không còn trong danh sách (đã ghép hoặc đã bỏ).", "This new camera is no longer listed (paired or dismissed)."},
	"err_pair_tried":            {"Camera đã từ chối đúng tên và mật khẩu này; đầu ghi không thử lại (camera sẽ khoá tài khoản). Hãy nhập mật khẩu khác.", "The camera refused this user and password already; the box does not try again (the camera would lock the account). Enter another password."},
	"err_pair_not_ready":        {"Chưa biết luồng của camera: hãy nhập tên và mật khẩu camera trước.", "The camera's streams are not known yet: enter its user and password first."},
	"err_pair_household":        {"Chọn một hộ gia đình, hoặc đánh dấu là camera đường.", "Choose a household, or mark it as a road camera."},
	"err_pair_id_taken":         {"Mã camera này đã có. Chọn mã khác.", "A camera has this ID already. Choose another."},
	"err_cam_password_len":      {"Mật khẩu camera phải dài 8 đến 64 ký tự.", "The camera password must be 8 to 64 characters."},
	"err_cam_password_no_onvif": {"Camera này không có ONVIF: đổi mật khẩu trên chính camera.", "This camera has no ONVIF: change its password on the camera itself."},
	"err_cam_password":          {"Camera không đổi mật khẩu: %s", "The camera did not change its password: %s"},
	"pair_state_ready":          {"Đã nhận camera: có luồng chính và luồng phụ.", "Camera recognised: main and sub streams found."},
	"pair_state_known_paths":    {"Camera không bật ONVIF: dùng đường dẫn quen thuộc của hãng, hãy kiểm tra hình.", "ONVIF is off on this camera: using the maker's usual paths, check the picture."},
	"pair_state_wrong_password": {"Sai tên hoặc mật khẩu camera. Đầu ghi không thử lại mật khẩu này.", "Wrong camera user or password. The box will not try this password again."},
	"pair_state_need_password":  {"Camera cần tên và mật khẩu.", "The camera needs a user and password."},
	"pair_state_timeout":        {"Camera không trả lời kịp.", "The camera did not answer in time."},
	"pair_state_unreachable":    {"Không kết nối được camera.", "Could not connect to the camera."},
	"pair_state_not_allowed":    {"Địa chỉ camera không thuộc mạng camera.", "The camera's address is not on the camera network."},
	"pair_state_too_large":      {"Camera trả lời quá dài (bị bỏ qua).", "The camera's answer was too long (ignored)."},
	"pair_state_bad_reply":      {"Camera trả lời không đúng ONVIF.", "The camera's answer is not valid ONVIF."},
	"pair_state_no_onvif":       {"Camera không bật ONVIF: chọn hãng camera để dùng đường dẫn quen thuộc.", "ONVIF is off on this camera: choose its maker to use the usual paths."},
	"pair_state_error":          {"Camera gặp lỗi.", "The camera had a problem."},
}

// tr returns the message for key in lang (the key itself if unknown).
func tr(lang, key string) string {
	m, ok := messages[key]
	if !ok {
		return key
	}
	if lang == langEN {
		return m[1]
	}
	return m[0]
}

// langOf reads the language cookie; Vietnamese unless English was chosen.
func (s *Server) langOf(r *http.Request) string {
	if c, err := r.Cookie("mt_lang"); err == nil && c.Value == langEN {
		return langEN
	}
	return langVI
}

func (s *Server) setLang(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	l := r.PathValue("lang")
	if l != langEN {
		l = langVI
	}
	http.SetCookie(w, &http.Cookie{Name: "mt_lang", Value: l, Path: "/", MaxAge: 365 * 86400,
		HttpOnly: true, Secure: !s.cfg.InsecureCookies, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, localPath(r.URL.Query().Get("back")), http.StatusSeeOther)
}
