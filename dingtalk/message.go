package dingtalk

// envelope is a DingTalk send body: msgtype and exactly one content object
// of the same name. Field spellings differ between types on purpose: they
// are DingTalk's (messageUrl in link, messageURL in feedCard).
type envelope struct {
	MsgType    string          `json:"msgtype"`
	Text       *textContent    `json:"text,omitempty"`
	Markdown   *mdContent      `json:"markdown,omitempty"`
	Link       *linkContent    `json:"link,omitempty"`
	ActionCard *actionCardBody `json:"actionCard,omitempty"`
	FeedCard   *feedCardBody   `json:"feedCard,omitempty"`
	At         *at             `json:"at,omitempty"`
	MsgUUID    string          `json:"msgUuid,omitempty"`
}

type textContent struct {
	Content string `json:"content"`
}

type mdContent struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

type linkContent struct {
	Title      string `json:"title"`
	Text       string `json:"text"`
	MessageURL string `json:"messageUrl"`
	PicURL     string `json:"picUrl,omitempty"`
}

type actionCardBody struct {
	Title          string   `json:"title"`
	Text           string   `json:"text"`
	SingleTitle    string   `json:"singleTitle,omitempty"`
	SingleURL      string   `json:"singleURL,omitempty"`
	Btns           []button `json:"btns,omitempty"`
	BtnOrientation string   `json:"btnOrientation,omitempty"`
	HideAvatar     string   `json:"hideAvatar,omitempty"`
}

type button struct {
	Title     string `json:"title"`
	ActionURL string `json:"actionURL"`
}

type feedCardBody struct {
	Links []feedLink `json:"links"`
}

type feedLink struct {
	Title      string `json:"title"`
	MessageURL string `json:"messageURL"`
	PicURL     string `json:"picURL"`
}

type at struct {
	AtMobiles []string `json:"atMobiles,omitempty"`
	AtUserIDs []string `json:"atUserIds,omitempty"`
	IsAtAll   bool     `json:"isAtAll,omitempty"`
}
