package webadmin

// authMessages are the strings of logins, sessions, passwords, roles and
// grants (kept apart so that their alignment does not touch messages).
var authMessages = map[string][2]string{
	"err_busy":             {"Đầu ghi đang bận kiểm tra mật khẩu. Vui lòng thử lại sau %d giây.", "The box is busy checking passwords. Try again in %d seconds."},
	"err_session_ended":    {"Phiên đăng nhập đã hết, vui lòng đăng nhập lại.", "Your session has ended; please log in again."},
	"err_not_road":         {"Chỉ cấp quyền xem camera đường (không thuộc hộ nào): %s", "Only road cameras (owned by no household) can be granted: %s"},
	"err_officer_exists":   {"Đã có tài khoản cán bộ: chỉ cán bộ mới tạo hoặc đặt lại mật khẩu cán bộ. Nếu không còn cán bộ nào đăng nhập được, giữ nút ghép nối trên đầu ghi khi bật nguồn để tạo một cán bộ mới.", "An officer account exists: only officers create officers or reset their passwords. If no officer can log in, hold the pairing button on the box at power-on to create one new officer."},
	"notice_officer_reset": {"Kỹ thuật viên %s đã tạo tài khoản cán bộ %s lúc %s sau khi giữ nút ghép nối trên đầu ghi khi bật nguồn (đặt lại cán bộ bằng nút trên máy).", "Technician %s created officer account %s at %s after the pairing button was held at power-on (physical officer reset)."},
	"notice_ack":           {"Đã biết", "Acknowledge"},
	"officer_reset_armed":  {"Nút ghép nối được giữ khi bật nguồn: kỹ thuật viên có thể tạo một tài khoản cán bộ mới.", "The pairing button was held at power-on: the technician may create one new officer account."},
}

func init() {
	for k, v := range authMessages {
		messages[k] = v
	}
}
