/*
 * ifd-classthree: a virtual class-3 (PIN pad) card reader for pcscd.
 *
 * An IFD handler (pcsc-lite's ifdhandler.h, API v3) that plays the reader
 * and leaves the card, and the reader's keypad, to a process on the other
 * end of a TCP connection: adapters/vpcd in this repository, with a keypad
 * (vpcd.InsertWithKeypad). See adapters/pcsc/classthree/doc.go for the
 * protocol and the configuration.
 *
 * Each reader (one reader.conf entry, DEVICENAME /dev/null:PORT or
 * CHANNELID PORT) listens on 127.0.0.1:PORT, loopback only; the card is
 * present while a client is connected. Every message both ways is a
 * 2-byte big-endian length and a payload, as vsmartcard's vpcd:
 *   00 power off, 01 power on, 02 reset       (no answer)
 *   04 get ATR                                (answer: the ATR)
 *   a command APDU (4 bytes or more)          (answer: the response APDU)
 *   FF 06 PIN_VERIFY_STRUCTURE                (answer: SW1 SW2)
 *   FF 07 PIN_MODIFY_STRUCTURE                (answer: SW1 SW2)
 * CLA FF is invalid for a card (ISO 7816-4) and is the reader's own class
 * in PC/SC: this driver never forwards a transmitted APDU with CLA FF (it
 * answers 6E 00 itself), so the keypad messages cannot be forged through
 * SCardTransmit.
 *
 * IFDHControl answers CM_IOCTL_GET_FEATURE_REQUEST with
 * FEATURE_VERIFY_PIN_DIRECT, FEATURE_MODIFY_PIN_DIRECT and
 * FEATURE_IFD_PIN_PROPERTIES at SCARD_CTL_CODE(3400 + tag) (PC/SC part 10,
 * pcsc-lite reader.h). The structures are passed on; the PIN is typed on
 * the other side and never crosses this driver.
 *
 * Nothing here logs APDUs, structures or answers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

/* Built with -I/usr/include/PCSC (libpcsclite-dev). */
#include <ifdhandler.h>
#include <reader.h>
#include <debuglog.h>

#define MAX_READERS 16
#define MAX_MSG 0xFFFF
#define APDU_TIMEOUT_MS 30000
#define PIN_DEFAULT_TIMEOUT_S 60
/* Three keypad entries (current, new, again) and some slack. */
#define PIN_TIMEOUT_MS(s) (((s) ? (s) : PIN_DEFAULT_TIMEOUT_S) * 3000 + 30000)

#define CTRL_OFF 0x00
#define CTRL_ON 0x01
#define CTRL_RESET 0x02
#define CTRL_ATR 0x04
#define READER_CLA 0xFF

#define IOCTL_VERIFY_PIN_DIRECT SCARD_CTL_CODE(3400 + FEATURE_VERIFY_PIN_DIRECT)
#define IOCTL_MODIFY_PIN_DIRECT SCARD_CTL_CODE(3400 + FEATURE_MODIFY_PIN_DIRECT)
#define IOCTL_IFD_PIN_PROPERTIES SCARD_CTL_CODE(3400 + FEATURE_IFD_PIN_PROPERTIES)

/* Header sizes of PIN_VERIFY_STRUCTURE and PIN_MODIFY_STRUCTURE, and the
 * offsets of their ulDataLength (reader.h). */
#define VERIFY_HEADER 19
#define MODIFY_HEADER 24
#define VERIFY_DATA_LENGTH 15
#define MODIFY_DATA_LENGTH 20

struct reader {
	int used;
	DWORD lun;
	int port;
	int listen_fd;
	int card_fd; /* -1: no card */
	UCHAR atr[MAX_ATR_SIZE];
	DWORD atr_len;
	unsigned char buf[2 + MAX_MSG]; /* a framed message being sent */
	unsigned char msg[MAX_MSG];     /* a keypad message being built */
};

static struct reader readers[MAX_READERS];
static pthread_mutex_t table_mu = PTHREAD_MUTEX_INITIALIZER;

static struct reader *find(DWORD lun)
{
	struct reader *r = NULL;
	pthread_mutex_lock(&table_mu);
	for (int i = 0; i < MAX_READERS; i++)
		if (readers[i].used && readers[i].lun == lun)
			r = &readers[i];
	pthread_mutex_unlock(&table_mu);
	return r;
}

static void drop_card(struct reader *r, const char *why)
{
	if (r->card_fd < 0)
		return;
	close(r->card_fd);
	r->card_fd = -1;
	r->atr_len = 0;
	memset(r->buf, 0, sizeof r->buf);
	memset(r->msg, 0, sizeof r->msg);
	Log3(PCSC_LOG_INFO, "classthree: port %d: card removed (%s)", r->port, why);
}

/* send_msg writes one framed message in a single write. */
static int send_msg(struct reader *r, const unsigned char *p, size_t n)
{
	if (n > MAX_MSG)
		return -1;
	r->buf[0] = (unsigned char)(n >> 8);
	r->buf[1] = (unsigned char)n;
	memmove(r->buf + 2, p, n);
	size_t off = 0, total = n + 2;
	while (off < total) {
		ssize_t w = send(r->card_fd, r->buf + off, total - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	memset(r->buf, 0, total);
	return 0;
}

static int read_full(int fd, unsigned char *p, size_t n, int timeout_ms)
{
	size_t off = 0;
	while (off < n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -1; /* error or timeout */
		ssize_t got = recv(fd, p + off, n - off, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		off += (size_t)got;
	}
	return 0;
}

/* exchange sends a message and reads the answer into out (at most cap
 * bytes). On any failure the card is dropped. */
static int exchange(struct reader *r, const unsigned char *msg, size_t n,
	unsigned char *out, size_t cap, size_t *got, int timeout_ms)
{
	unsigned char hdr[2];
	if (send_msg(r, msg, n) != 0 || read_full(r->card_fd, hdr, 2, timeout_ms) != 0) {
		drop_card(r, "connection lost");
		return -1;
	}
	size_t len = ((size_t)hdr[0] << 8) | hdr[1];
	if (len > cap) {
		drop_card(r, "answer too long");
		return -1;
	}
	if (read_full(r->card_fd, out, len, timeout_ms) != 0) {
		drop_card(r, "connection lost");
		return -1;
	}
	*got = len;
	return 0;
}

static int control(struct reader *r, unsigned char c)
{
	if (send_msg(r, &c, 1) != 0) {
		drop_card(r, "connection lost");
		return -1;
	}
	return 0;
}

static int fetch_atr(struct reader *r)
{
	unsigned char c = CTRL_ATR;
	size_t n = 0;
	if (exchange(r, &c, 1, r->atr, sizeof r->atr, &n, APDU_TIMEOUT_MS) != 0)
		return -1;
	r->atr_len = (DWORD)n;
	return 0;
}

/* accept_card takes a waiting connection, if any: a card was inserted. */
static void accept_card(struct reader *r)
{
	int fd = accept(r->listen_fd, NULL, NULL);
	if (fd < 0)
		return;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	r->card_fd = fd;
	if (fetch_atr(r) == 0)
		Log2(PCSC_LOG_INFO, "classthree: port %d: card inserted", r->port);
}

/* card_alive reports whether the connection is still open, without
 * reading. */
static int card_alive(struct reader *r)
{
	unsigned char c;
	ssize_t n = recv(r->card_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 1;
	drop_card(r, n == 0 ? "connection closed" : "unexpected data or error");
	return 0;
}

static RESPONSECODE open_channel(DWORD lun, int port)
{
	if (port <= 0 || port > 65535) {
		Log2(PCSC_LOG_ERROR, "classthree: port %d: give DEVICENAME /dev/null:PORT or CHANNELID PORT with a TCP port", port);
		return IFD_COMMUNICATION_ERROR;
	}
	pthread_mutex_lock(&table_mu);
	struct reader *r = NULL;
	for (int i = 0; i < MAX_READERS && !r; i++)
		if (!readers[i].used)
			r = &readers[i];
	if (!r) {
		pthread_mutex_unlock(&table_mu);
		Log2(PCSC_LOG_ERROR, "classthree: port %d: more than 16 readers", port);
		return IFD_COMMUNICATION_ERROR;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
		bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0 ||
		fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		pthread_mutex_unlock(&table_mu);
		Log3(PCSC_LOG_ERROR, "classthree: could not listen on 127.0.0.1:%d: %s", port, strerror(e));
		return IFD_COMMUNICATION_ERROR;
	}
	r->used = 1;
	r->lun = lun;
	r->port = port;
	r->listen_fd = fd;
	r->card_fd = -1;
	r->atr_len = 0;
	pthread_mutex_unlock(&table_mu);
	Log2(PCSC_LOG_INFO, "classthree: PIN pad reader waits for a card on 127.0.0.1:%d", port);
	return IFD_SUCCESS;
}

RESPONSECODE IFDHCreateChannelByName(DWORD Lun, LPSTR DeviceName)
{
	const char *colon = DeviceName ? strrchr(DeviceName, ':') : NULL;
	return open_channel(Lun, colon ? atoi(colon + 1) : -1);
}

RESPONSECODE IFDHCreateChannel(DWORD Lun, DWORD Channel)
{
	return open_channel(Lun, (int)Channel);
}

RESPONSECODE IFDHCloseChannel(DWORD Lun)
{
	struct reader *r = find(Lun);
	if (!r)
		return IFD_COMMUNICATION_ERROR;
	drop_card(r, "reader closed");
	close(r->listen_fd);
	pthread_mutex_lock(&table_mu);
	r->used = 0;
	pthread_mutex_unlock(&table_mu);
	return IFD_SUCCESS;
}

RESPONSECODE IFDHGetCapabilities(DWORD Lun, DWORD Tag, PDWORD Length, PUCHAR Value)
{
	struct reader *r = find(Lun);
	if (!r)
		return IFD_COMMUNICATION_ERROR;
	switch (Tag) {
	case TAG_IFD_ATR:
	case SCARD_ATTR_ATR_STRING:
		if (*Length < r->atr_len)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		memcpy(Value, r->atr, r->atr_len);
		*Length = r->atr_len;
		return IFD_SUCCESS;
	case TAG_IFD_SIMULTANEOUS_ACCESS:
		if (*Length < 1)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		Value[0] = MAX_READERS;
		*Length = 1;
		return IFD_SUCCESS;
	case TAG_IFD_SLOTS_NUMBER:
		if (*Length < 1)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		Value[0] = 1;
		*Length = 1;
		return IFD_SUCCESS;
	case TAG_IFD_THREAD_SAFE:
	case TAG_IFD_SLOT_THREAD_SAFE:
		if (*Length < 1)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		Value[0] = 0; /* pcscd serialises the calls */
		*Length = 1;
		return IFD_SUCCESS;
	}
	return IFD_ERROR_TAG;
}

RESPONSECODE IFDHSetCapabilities(DWORD Lun, DWORD Tag, DWORD Length, PUCHAR Value)
{
	(void)Lun;
	(void)Tag;
	(void)Length;
	(void)Value;
	return IFD_NOT_SUPPORTED;
}

RESPONSECODE IFDHSetProtocolParameters(DWORD Lun, DWORD Protocol, UCHAR Flags,
	UCHAR PTS1, UCHAR PTS2, UCHAR PTS3)
{
	(void)Flags;
	(void)PTS1;
	(void)PTS2;
	(void)PTS3;
	if (!find(Lun))
		return IFD_COMMUNICATION_ERROR;
	if (Protocol != SCARD_PROTOCOL_T0 && Protocol != SCARD_PROTOCOL_T1)
		return IFD_PROTOCOL_NOT_SUPPORTED;
	return IFD_SUCCESS;
}

RESPONSECODE IFDHPowerICC(DWORD Lun, DWORD Action, PUCHAR Atr, PDWORD AtrLength)
{
	struct reader *r = find(Lun);
	DWORD cap = AtrLength ? *AtrLength : 0;
	if (AtrLength)
		*AtrLength = 0;
	if (!r)
		return IFD_COMMUNICATION_ERROR;
	if (r->card_fd < 0)
		return IFD_ERROR_POWER_ACTION;
	switch (Action) {
	case IFD_POWER_DOWN:
		return control(r, CTRL_OFF) == 0 ? IFD_SUCCESS : IFD_ERROR_POWER_ACTION;
	case IFD_POWER_UP:
	case IFD_RESET:
		if (control(r, Action == IFD_POWER_UP ? CTRL_ON : CTRL_RESET) != 0 || fetch_atr(r) != 0)
			return IFD_ERROR_POWER_ACTION;
		if (cap < r->atr_len)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		memcpy(Atr, r->atr, r->atr_len);
		*AtrLength = r->atr_len;
		return IFD_SUCCESS;
	}
	return IFD_NOT_SUPPORTED;
}

static RESPONSECODE answer_locally(PUCHAR RxBuffer, PDWORD RxLength, UCHAR sw1, UCHAR sw2)
{
	if (*RxLength < 2) {
		*RxLength = 0;
		return IFD_ERROR_INSUFFICIENT_BUFFER;
	}
	RxBuffer[0] = sw1;
	RxBuffer[1] = sw2;
	*RxLength = 2;
	return IFD_SUCCESS;
}

RESPONSECODE IFDHTransmitToICC(DWORD Lun, SCARD_IO_HEADER SendPci, PUCHAR TxBuffer,
	DWORD TxLength, PUCHAR RxBuffer, PDWORD RxLength, PSCARD_IO_HEADER RecvPci)
{
	(void)SendPci;
	(void)RecvPci;
	struct reader *r = find(Lun);
	if (!r) {
		*RxLength = 0;
		return IFD_COMMUNICATION_ERROR;
	}
	if (r->card_fd < 0) {
		*RxLength = 0;
		return IFD_ICC_NOT_PRESENT;
	}
	if (TxLength < 4)
		return answer_locally(RxBuffer, RxLength, 0x67, 0x00); /* wrong length */
	if (TxBuffer[0] == READER_CLA)
		return answer_locally(RxBuffer, RxLength, 0x6E, 0x00); /* class not supported */
	size_t got = 0;
	int rc = exchange(r, TxBuffer, TxLength, RxBuffer, *RxLength, &got, APDU_TIMEOUT_MS);
	*RxLength = rc == 0 ? (DWORD)got : 0;
	return rc == 0 ? IFD_SUCCESS : IFD_COMMUNICATION_ERROR;
}

static uint32_t le32(const UCHAR *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_feature(UCHAR *p, UCHAR tag, uint32_t code)
{
	p[0] = tag;
	p[1] = 4;
	p[2] = (UCHAR)(code >> 24);
	p[3] = (UCHAR)(code >> 16);
	p[4] = (UCHAR)(code >> 8);
	p[5] = (UCHAR)code;
}

/* pin_entry passes a PIN structure to the keypad's side (FF tag
 * structure) and returns its SW1 SW2. */
static RESPONSECODE pin_entry(struct reader *r, UCHAR tag, PUCHAR in, DWORD n, DWORD header,
	DWORD length_at, PUCHAR out, DWORD cap, LPDWORD returned)
{
	/* As the CCID driver: the header, CLA INS P1 P2, and ulDataLength
	 * matching what follows. */
	if (n < header + 4 || le32(in + length_at) != n - header)
		return IFD_NOT_SUPPORTED;
	if (cap < 2)
		return IFD_ERROR_INSUFFICIENT_BUFFER;
	if (r->card_fd < 0)
		return IFD_ICC_NOT_PRESENT;
	if (n + 2 > MAX_MSG)
		return IFD_NOT_SUPPORTED;
	r->msg[0] = READER_CLA;
	r->msg[1] = tag;
	memcpy(r->msg + 2, in, n);
	unsigned char sw[2];
	size_t got = 0;
	if (exchange(r, r->msg, n + 2, sw, sizeof sw, &got, PIN_TIMEOUT_MS(in[0])) != 0 || got != 2)
		return IFD_COMMUNICATION_ERROR;
	out[0] = sw[0];
	out[1] = sw[1];
	*returned = 2;
	return IFD_SUCCESS;
}

RESPONSECODE IFDHControl(DWORD Lun, DWORD dwControlCode, PUCHAR TxBuffer, DWORD TxLength,
	PUCHAR RxBuffer, DWORD RxLength, LPDWORD pdwBytesReturned)
{
	struct reader *r = find(Lun);
	*pdwBytesReturned = 0;
	if (!r)
		return IFD_COMMUNICATION_ERROR;
	switch (dwControlCode) {
	case CM_IOCTL_GET_FEATURE_REQUEST:
		if (RxLength < 18)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		put_feature(RxBuffer, FEATURE_VERIFY_PIN_DIRECT, IOCTL_VERIFY_PIN_DIRECT);
		put_feature(RxBuffer + 6, FEATURE_MODIFY_PIN_DIRECT, IOCTL_MODIFY_PIN_DIRECT);
		put_feature(RxBuffer + 12, FEATURE_IFD_PIN_PROPERTIES, IOCTL_IFD_PIN_PROPERTIES);
		*pdwBytesReturned = 18;
		return IFD_SUCCESS;
	case IOCTL_IFD_PIN_PROPERTIES:
		if (RxLength < 4)
			return IFD_ERROR_INSUFFICIENT_BUFFER;
		RxBuffer[0] = 0x10; /* wLcdLayout 0x0210: 2 lines of 16 characters */
		RxBuffer[1] = 0x02;
		RxBuffer[2] = 0x02; /* bEntryValidationCondition: OK key */
		RxBuffer[3] = 0x00; /* bTimeOut2 */
		*pdwBytesReturned = 4;
		return IFD_SUCCESS;
	case IOCTL_VERIFY_PIN_DIRECT:
		return pin_entry(r, FEATURE_VERIFY_PIN_DIRECT, TxBuffer, TxLength, VERIFY_HEADER,
			VERIFY_DATA_LENGTH, RxBuffer, RxLength, pdwBytesReturned);
	case IOCTL_MODIFY_PIN_DIRECT:
		return pin_entry(r, FEATURE_MODIFY_PIN_DIRECT, TxBuffer, TxLength, MODIFY_HEADER,
			MODIFY_DATA_LENGTH, RxBuffer, RxLength, pdwBytesReturned);
	}
	return IFD_ERROR_NOT_SUPPORTED;
}

RESPONSECODE IFDHICCPresence(DWORD Lun)
{
	struct reader *r = find(Lun);
	if (!r)
		return IFD_COMMUNICATION_ERROR;
	if (r->card_fd < 0)
		accept_card(r);
	else
		card_alive(r);
	return r->card_fd >= 0 ? IFD_ICC_PRESENT : IFD_ICC_NOT_PRESENT;
}
