"""The emulator's customer phone: a page at ``/_emulator/phone`` and the JSON it reads.

A person plays the customer: picks a business number and a chat (the ones the emulator knows,
including those learned from the desk's database with ``--seed-from-db``), writes text, sends a
picture or a document, and sees each reply arrive with its ticks (✓ sent, ✓✓ delivered, blue ✓✓
read, or failed with Meta's error) and its attachment. For a number being onboarded, the phone
also shows what the number itself received: the verification SMS, or the voice call's digits.

Routes (all under ``/_emulator``; development and tests only, no authentication):

- ``GET phone``: the page.
- ``GET api/chats?phone_number_id=``: the chats of a number, newest first.
- ``GET api/chat?phone_number_id=&wa_id=``: one chat's messages with status, error, media.
- ``GET phone/media/<id>``: a stored file, for the page to show or download.
- ``POST api/send-media``: JSON ``{phone_number_id, from, name, caption, filename, mime_type,
  data, reply_to, voice}`` (data in base64): the customer sends a picture, video, audio file or
  document (media id, signed webhook); with ``voice`` a recording of the page's microphone
  (WebM or Ogg Opus), sent on as WhatsApp does, an OGG/Opus voice note.
- ``GET api/typing?phone_number_id=&wa_id=``: whether the business shows "typing…" now.

The page also lets the customer reply to (quote) and react to the business's messages, answer
its reply buttons and lists, and send a location or a contact card (``api/inject`` with the
type's object as ``message``).
- ``GET api/device?phone_number_id=``: the SMS and calls the business number received.

Nothing here imports Django (as the rest of the emulator).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING

from channels_app.whatsapp import voice
from devtools.whatsapp_emulator.graph import MEDIA_LIMITS

if TYPE_CHECKING:  # the emulator imports this module; only its type is needed here
    from devtools.whatsapp_emulator.server import Emulator

Answer = tuple[int, str, bytes]
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
SEND_MIMES = {kind: types for kind, (types, _limit) in MEDIA_LIMITS.items()}


def handle(emulator: Emulator, method: str, path: str, query: dict, body: bytes) -> Answer | None:
    """The phone's answer for ``path``, or None when the path is not the phone's."""
    pnid = query.get("phone_number_id", "")
    if method == "GET" and path == "/_emulator/phone":
        return 200, "text/html; charset=utf-8", PHONE_PAGE.encode()
    if method == "GET" and path == "/_emulator/api/chats":
        return _json(chats(emulator, pnid))
    if method == "GET" and path == "/_emulator/api/chat":
        return _json(chat(emulator, pnid, query.get("wa_id", "")))
    if method == "GET" and path == "/_emulator/api/device":
        return _json(emulator.device_messages(pnid))
    if method == "GET" and path.startswith("/_emulator/phone/media/"):
        media = emulator.media.get(path.rsplit("/", 1)[-1])
        if media is None:
            return 404, "text/plain", b"no such media"
        return 200, media["mime_type"], media["content"]
    if method == "GET" and path == "/_emulator/api/changes":  # the page's long poll
        since = query.get("since", "")
        return _json(emulator.wait_for_change(int(since) if since.isdigit() else -1))
    if method == "GET" and path == "/_emulator/api/typing":
        return _json({"typing": emulator.typing_in(pnid, query.get("wa_id", ""))})
    if method == "POST" and path == "/_emulator/api/send-media":
        return _json({"id": send_media(emulator, _body(body))})
    return None


def chats(emulator: Emulator, phone_number_id: str) -> list[dict]:
    """The number's chats, the most recent first: customer, name, last message and its time."""
    with emulator._lock:
        found = [
            {
                "wa_id": wa_id,
                "name": emulator.contact_names.get((pnid, wa_id), ""),
                "last": _label(messages[-1]) if messages else "",
                "timestamp": messages[-1]["timestamp"] if messages else 0,
            }
            for (pnid, wa_id), messages in emulator.chats.items()
            if pnid == phone_number_id
        ]
    return sorted(found, key=lambda c: c["timestamp"], reverse=True)


def chat(emulator: Emulator, phone_number_id: str, wa_id: str) -> list[dict]:
    """One chat as the phone shows it: direction, text, status (ticks), error and attachment;
    the quoted message (``quote``), the reactions on each message (``reactions``: the latest
    emoji of each side; a reaction is no bubble of its own while its target is shown), and the
    type's object (``detail``: location, contact cards, the buttons or list of a message)."""
    shown = []
    by_wamid: dict[str, dict] = {}
    for message in emulator.chat(phone_number_id, wa_id):
        item = {
            k: message.get(k) for k in ("direction", "wamid", "type", "text", "status", "timestamp")
        }
        item["direction"] = item["direction"] or "out"
        item["error"] = message.get("error") or ""
        item["media"] = _media_of(emulator, message)
        item["detail"] = _detail_of(message)
        item["voice"] = bool(
            message.get("voice") or ((message.get("request") or {}).get("audio") or {}).get("voice")
        )
        item["reactions"] = {}
        quoted = by_wamid.get(message.get("context") or "")
        item["quote"] = (quoted["text"] or f"[{quoted['type']}]") if quoted else ""
        if item["type"] == "reaction" and isinstance(item["detail"], dict):
            target = by_wamid.get(str(item["detail"].get("message_id") or ""))
            if target is not None:
                emoji = str(item["detail"].get("emoji") or "")
                if emoji:
                    target["reactions"][item["direction"]] = emoji
                else:
                    target["reactions"].pop(item["direction"], None)
                continue
        by_wamid[item["wamid"]] = item
        shown.append(item)
    return shown


def _detail_of(message: dict):
    """The type's object of a message: as the customer sent it, or as the business's request."""
    if message.get("detail") is not None:
        return message["detail"]
    request = message.get("request") or {}
    kind = message.get("type")
    if kind in ("text", *MEDIA_KINDS) or kind not in request:
        return None
    return request[kind]


def send_media(emulator: Emulator, data: dict) -> str:
    """The customer sends a picture or a document: the file is stored under a media id (digits)
    and the inbound webhook carries that id, as Meta's does. Returns the message's wamid."""
    try:
        content = base64.b64decode(str(data.get("data", "")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("data must be the file in base64") from exc
    mime = str(data.get("mime_type", "")).split(";")[0].strip().lower()
    if data.get("voice"):
        # A recording from the page's microphone button: WhatsApp sends voice notes as OGG/Opus.
        content = voice.as_voice_note(content, mime)
        return emulator.inject(
            str(data.get("phone_number_id", "")),
            wa_id=str(data.get("from", "")),
            name=str(data.get("name", "")),
            type="audio",
            media=(content, "audio/ogg", "voice.ogg"),
            voice=True,
            reply_to=str(data.get("reply_to", "")),
        )
    kind = next(
        (k for k in ("image", "video", "audio") if mime in SEND_MIMES[k]), "document"
    )
    return emulator.inject(
        str(data.get("phone_number_id", "")),
        wa_id=str(data.get("from", "")),
        name=str(data.get("name", "")),
        type=kind,
        text=str(data.get("caption", "")),
        media=(content, mime, str(data.get("filename", "")) or f"{kind}.bin"),
        reply_to=str(data.get("reply_to", "")),
    )


def _media_of(emulator: Emulator, message: dict) -> dict | None:
    kind = message.get("type")
    if kind not in MEDIA_KINDS:
        return None
    media_id = message.get("media_id") or (message.get("request") or {}).get(kind, {}).get("id")
    link = (message.get("request") or {}).get(kind, {}).get("link", "")
    stored = emulator.media.get(media_id or "")
    if stored is None:
        return {"url": link, "mime_type": "", "filename": link.rsplit("/", 1)[-1]} if link else None
    return {
        "url": f"/_emulator/phone/media/{media_id}",
        "mime_type": stored["mime_type"],
        "filename": stored["filename"],
    }


def _label(message: dict) -> str:
    return message.get("text") or f"[{message.get('type', 'message')}]"


def _json(data) -> Answer:
    return 200, "application/json", json.dumps(data).encode()


def _body(body: bytes) -> dict:
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("a JSON object is expected")
    return data


PHONE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Customer phone (WhatsApp emulator)</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;background:#e5ddd5;margin:0;display:flex;
justify-content:center}
.phone{width:380px;max-width:100%;min-height:100vh;background:#efeae2;display:flex;
flex-direction:column}
header{background:#075e54;color:#fff;padding:10px}
header label{display:block;font-size:12px;margin-top:4px}
header input,header select{width:100%;box-sizing:border-box}
#device{background:#fff8e1;border-bottom:1px solid #e0c97f;padding:6px 10px;font-size:13px}
#device:empty{display:none}#device p{margin:4px 0}
#thread{flex:1;overflow-y:auto;padding:10px;display:flex;flex-direction:column;gap:6px}
.m{max-width:80%;padding:6px 9px;border-radius:8px;white-space:pre-wrap;word-wrap:break-word}
.in{align-self:flex-end;background:#dcf8c6}.out{align-self:flex-start;background:#fff}
.m img{max-width:100%;display:block;border-radius:4px;margin-bottom:4px}
.meta{font-size:11px;color:#667;text-align:right}
.ticks{margin-left:4px;letter-spacing:-3px}.ticks[data-status=read]{color:#34b7f1}
.ticks[data-status=failed]{color:#b00020;letter-spacing:0}.error{color:#b00020;font-size:12px}
form{display:flex;gap:6px;padding:8px;background:#f0f0f0;flex-wrap:wrap}form #text{flex:1}
#attach{font-size:12px;width:100%}
.quote{border-left:3px solid #34b7f1;background:rgba(0,0,0,.05);padding:2px 6px;font-size:12px;
margin-bottom:4px}
.reacts{font-size:13px;margin-top:2px}.acts{font-size:12px;margin-top:3px;display:flex;gap:6px;
flex-wrap:wrap}
.acts button,.choice{font-size:12px;border:1px solid #34b7f1;background:#fff;color:#075e54;
border-radius:12px;padding:1px 8px;cursor:pointer}
.choice{display:block;width:100%;margin-top:3px}.m audio,.m video{max-width:100%;display:block}
#replying{font-size:12px;width:100%;background:#fff;padding:2px 6px}#replying:empty{display:none}
#typing{font-size:12px;font-style:italic;min-height:1em}
#extras{display:flex;gap:6px;width:100%}#extras button{font-size:12px}
#rec[aria-pressed=true]{background:#b00020;color:#fff}
</style></head><body><div class="phone">
<header><strong>Customer phone</strong>
<label>Business number <select id="pnid"></select></label>
<label>Chat <select id="chats"><option value="">New chat…</option></select></label>
<label>My WhatsApp ID <input id="waid" value="15555550123" inputmode="numeric"></label>
<label>My name <input id="name" value="Dana Reyes"></label>
<div id="typing" aria-live="polite"></div></header>
<section id="device" aria-label="SMS and calls received by this number"
aria-live="polite"></section>
<div id="thread" aria-live="polite"></div>
<form id="f"><div id="replying"></div>
<input id="text" autocomplete="off" placeholder="Message" aria-label="Message">
<button id="send">Send</button>
<label id="attach">Photo, video, audio or document <input id="file" type="file"
accept="image/jpeg,image/png,video/mp4,audio/mpeg,audio/ogg,audio/aac,audio/mp4,
application/pdf,text/plain,.doc,.docx,.xls,.xlsx,.ppt,.pptx"></label>
<div id="extras"><button type="button" id="rec" aria-pressed="false">🎤 Voice note</button>
<button type="button" id="loc">📍 Location</button>
<button type="button" id="card">👤 Contact card</button></div>
</form></div>
<script>
const $=id=>document.getElementById(id);
const params=new URLSearchParams(location.search);
const TICKS={accepted:"🕓",sent:"✓",delivered:"✓✓",read:"✓✓",failed:"!"};
if(params.get("wa_id"))$("waid").value=params.get("wa_id");
fetch("api/numbers").then(r=>r.json()).then(ns=>{for(const n of ns){
const o=document.createElement("option");o.value=n.phone_number_id;
o.textContent=n.name+" ("+n.display+")"+(n.registered?"":" · being verified");$("pnid").append(o);}
if(params.get("phone_number_id"))$("pnid").value=params.get("phone_number_id");refresh();});
function el(tag,cls,text){const e=document.createElement(tag);if(cls)e.className=cls;
if(text!==undefined)e.textContent=text;return e;}
let replyTo="",recorder=null,chunks=[];
function setReply(wamid,text){replyTo=wamid;
$("replying").textContent=wamid?"↩ "+text+"  (✕ tap to cancel)":"";}
$("replying").addEventListener("click",()=>setReply("",""));
function answer(m,type,obj,title){post("api/inject",{type:"interactive",text:title,reply_to:m.wamid,
message:{interactive:Object.assign({type:type},{[type]:obj})}});}
function detail(m,d){const x=m.detail;if(!x)return;
if(m.type==="location"){const a=el("a","","📍 "+(x.name||"")+" "+x.latitude+", "+x.longitude);
a.href="https://www.openstreetmap.org/?mlat="+x.latitude+"&mlon="+x.longitude;a.target="_blank";
d.append(a);}
else if(m.type==="contacts"){for(const c of x){d.append(el("div","","👤 "+((c.name||{}
).formatted_name||"")+" "+((c.phones||[]).map(p=>p.phone).join(", "))));}}
else if(m.type==="interactive"&&m.direction==="out"){const act=x.action||{};
for(const b of act.buttons||[]){const r=b.reply||{};const c=el("button","choice",r.title);
c.type="button";
c.onclick=()=>answer(m,"button_reply",{id:r.id,title:r.title},r.title);d.append(c);}
for(const sec of act.sections||[])for(const r of sec.rows||[]){
const c=el("button","choice","☰ "+r.title+(r.description?" — "+r.description:""));
c.type="button";c.onclick=()=>answer(m,"list_reply",{
id:r.id,title:r.title,description:r.description||""},r.title);d.append(c);}}}
function react(m){const e=prompt("React with (empty removes): 👍 ❤️ 😂 😮 😢 🙏","👍");
if(e===null)return;
post("api/inject",{type:"reaction",text:e,message:{reaction:{message_id:m.wamid,emoji:e}}});}
function bubble(m){const d=el("div","m "+m.direction);d.dataset.wamid=m.wamid;
if(m.quote)d.append(el("div","quote",m.quote));
if(m.voice)d.append(el("div","","🎤 Voice message"));
if(m.media&&m.media.url){if(m.media.mime_type.startsWith("image/")){const i=el("img");
i.src=m.media.url;i.alt=m.text||m.media.filename||"image";d.append(i);}
else if(/^(audio|video)[/]/.test(m.media.mime_type)){
const p=el(m.media.mime_type.startsWith("audio/")?"audio":"video");
p.controls=true;p.src=m.media.url;d.append(p);}else{
const a=el("a","doc","📄 "+(m.media.filename||"document"));a.href=m.media.url;
a.download=m.media.filename||"";d.append(a);}}
const caption=m.media?(m.text&&!m.text.startsWith("[")?m.text:""):
(m.text||(m.detail?"":"["+m.type+"]"));
if(caption)d.append(el("div","text",caption));detail(m,d);
const rs=Object.entries(m.reactions||{});
if(rs.length)d.append(el("div","reacts",rs.map(r=>r[1]).join(" ")));
if(m.direction==="out"&&m.type!=="reaction"){const acts=el("div","acts");
const r=el("button","","↩ Reply");r.type="button";
r.onclick=()=>setReply(m.wamid,m.text||"["+m.type+"]");const e=el("button","","☺ React");
e.type="button";e.onclick=()=>react(m);
acts.append(r,e);d.append(acts);}
const s=el("div","meta",new Date(m.timestamp*1000).toLocaleTimeString());
if(m.direction==="out"){const t=el("span","ticks",TICKS[m.status]||"");t.dataset.status=m.status;
t.title=m.status;t.setAttribute("aria-label",m.status);s.append(t);}
d.append(s);if(m.error)d.append(el("div","error",m.error));return d;}
function refresh(){const pnid=$("pnid").value;
fetch("api/chats?"+new URLSearchParams({phone_number_id:pnid})).then(r=>r.json()).then(cs=>{
const sel=$("chats"),keep=$("waid").value;sel.replaceChildren(el("option","","New chat…"));
sel.firstChild.value="";for(const c of cs){const o=el("option","",(c.name||c.wa_id)+" · "+c.last);
o.value=c.wa_id;sel.append(o);}sel.value=cs.some(c=>c.wa_id===keep)?keep:"";});
fetch("api/device?"+new URLSearchParams({phone_number_id:pnid})).then(r=>r.json()).then(ds=>{
const box=$("device");box.replaceChildren();for(const d of ds){box.append(el("p","",
(d.kind==="voice"?"📞 ":"✉ SMS: ")+d.text));}});
const q=new URLSearchParams({phone_number_id:pnid,wa_id:$("waid").value});
fetch("api/typing?"+q).then(r=>r.json()).then(t=>{
$("typing").textContent=t.typing?"Business is typing…":"";});
fetch("api/chat?"+q).then(r=>r.json()).then(ms=>{const t=$("thread");t.replaceChildren();
for(const m of ms)t.append(bubble(m));t.scrollTop=t.scrollHeight;});}
$("pnid").addEventListener("change",refresh);
$("chats").addEventListener("change",e=>{if(e.target.value){$("waid").value=e.target.value;
const o=e.target.selectedOptions[0];$("name").value=o.textContent.split(" · ")[0];}refresh();});
function post(path,data){return fetch(path,{method:"POST",
headers:{"Content-Type":"application/json"},body:JSON.stringify(Object.assign({
phone_number_id:$("pnid").value,from:$("waid").value,
name:$("name").value},data))}).then(refresh);}
$("f").addEventListener("submit",e=>{e.preventDefault();const file=$("file").files[0];
if(file){const r=new FileReader();r.onload=()=>{post("api/send-media",{
caption:$("text").value,reply_to:replyTo,
filename:file.name,mime_type:file.type||"application/octet-stream",
data:r.result.split(",")[1]}).then(()=>{$("file").value="";$("text").value="";});};
r.readAsDataURL(file);return;}
if(!$("text").value.trim())return;
post("api/inject",{type:"text",text:$("text").value,reply_to:replyTo}).then(()=>{
$("text").value="";setReply("","");});});
$("loc").addEventListener("click",()=>{const name=prompt("Place","Pier 5 Store");
if(name===null)return;
post("api/inject",{type:"location",text:name,reply_to:replyTo,message:{location:{
latitude:52.5208,longitude:13.4094,name:name,address:"Alexanderplatz 1, Berlin"}}});});
$("card").addEventListener("click",()=>{const name=prompt("Contact's name","Sam Lee");
if(!name)return;
const phone=prompt("Their phone","+1 555 010 0199")||"";
post("api/inject",{type:"contacts",text:name,reply_to:replyTo,message:{contacts:[{name:{
formatted_name:name,first_name:name.split(" ")[0]},
phones:phone?[{phone:phone,type:"CELL"}]:[]}]}});});
$("rec").addEventListener("click",async()=>{if(recorder&&recorder.state==="recording"){
recorder.stop();return;}
let stream;try{stream=await navigator.mediaDevices.getUserMedia({audio:true});}catch(e){
alert("No microphone");return;}
const type=["audio/ogg;codecs=opus","audio/webm;codecs=opus"]
.find(t=>MediaRecorder.isTypeSupported(t));
recorder=new MediaRecorder(stream,type?{mimeType:type}:undefined);chunks=[];
recorder.ondataavailable=e=>{if(e.data.size)chunks.push(e.data);};
recorder.onstop=()=>{stream.getTracks().forEach(t=>t.stop());
$("rec").setAttribute("aria-pressed","false");
const blob=new Blob(chunks,{type:recorder.mimeType});const fr=new FileReader();
fr.onload=()=>post("api/send-media",{
voice:true,mime_type:blob.type,reply_to:replyTo,data:fr.result.split(",")[1]});
fr.readAsDataURL(blob);};recorder.start(250);$("rec").setAttribute("aria-pressed","true");});
setInterval(refresh,10000);
function watch(since){fetch("api/changes?since="+since).then(r=>r.json()).then(d=>{
if(since>=0&&d.changes!==since)refresh();watch(d.changes);}).catch(()=>setTimeout(()=>watch(-1),1500));}
watch(-1);
</script></body></html>
"""
