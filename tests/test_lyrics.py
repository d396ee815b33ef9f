"""Timed lyrics: every supported format, the checks on bad input, JSON/LRC round trips, the CLI."""
from __future__ import annotations

import json
import warnings

import pytest

from lm2d.cli import main
from lm2d.errors import LM2DError, LM2DWarning
from lm2d.lyrics import load_lyrics, lyrics_to_json, lyrics_to_lrc
from lm2d.lyrics.lrc import LAST_LINE_SECONDS
from lm2d.song import Song

SECONDS_PER_BEAT = 60 / (297.5 * 4)  # On the run: #BPM:297,5


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def spans(lyrics):
    return [(round(s.start, 3), round(s.end, 3), s.text) for s in lyrics.segments]


def word_spans(segment):
    return [(round(w.start, 3), round(w.end, 3), w.text) for w in segment.words]


def assert_monotonic(lyrics):
    for previous, segment in zip(lyrics.segments, lyrics.segments[1:]):
        assert previous.start <= previous.end <= segment.start <= segment.end
    for segment in lyrics.segments:
        for word in segment.words:
            assert segment.start - 1e-9 <= word.start <= word.end <= segment.end + 1e-9


# --- LRC ----------------------------------------------------------------------------------

LRC_WITH_EVERYTHING = """\
[ar:Some Artist]
[ti:A Song]
[al:An Album]
[by:someone]
[offset:+500]

[00:10.00][00:30.00]This chorus comes twice
[00:15.50]Second line
[00:20.00]
[00:25.00]Third line
"""


def test_lrc_metadata_repeated_lines_offset_and_line_ends(tmp_path):
    path = write(tmp_path, "song.lrc", LRC_WITH_EVERYTHING)
    lyrics = load_lyrics(path, audio_duration=40.0)
    assert lyrics.source == "lrc"
    assert lyrics.metadata == {"artist": "Some Artist", "title": "A Song", "album": "An Album",
                               "lrc_author": "someone", "offset_ms": "500"}
    # +500 ms offset: every line 0.5 s sooner. The empty [00:20.00] ends "Second line"; the
    # chorus repeats at 30 s; the last line lasts until the end of the audio.
    assert spans(lyrics) == [(9.5, 15.0, "This chorus comes twice"), (15.0, 19.5, "Second line"),
                             (24.5, 29.5, "Third line"), (29.5, 40.0, "This chorus comes twice")]
    assert not lyrics.has_word_timing


def test_lrc_last_line_without_audio_gets_the_default_length_or_the_length_tag(tmp_path):
    lyrics = load_lyrics(write(tmp_path, "a.lrc", "[00:01.00]one\n[00:03.50]two\n"))
    assert spans(lyrics)[-1] == (3.5, 3.5 + LAST_LINE_SECONDS, "two")
    tagged = load_lyrics(write(tmp_path, "b.lrc", "[length: 01:02.5]\n[00:01.00]one\n[00:03.50]two\n"))
    assert spans(tagged)[-1] == (3.5, 62.5, "two")


def test_negative_offset_makes_lyrics_later_and_three_digit_fractions_are_milliseconds(tmp_path):
    lyrics = load_lyrics(write(tmp_path, "a.lrc", "[offset:-250]\n[00:01.125]one\n[00:02.5]two\n[00:04]\n"))
    assert spans(lyrics) == [(1.375, 2.75, "one"), (2.75, 4.25, "two")]


def test_enhanced_lrc_gives_word_times(tmp_path):
    text = ("[ti:Words]\n"
            "[00:01.00]<00:01.00>Hello <00:01.50>big <00:02.00>world<00:02.60>\n"
            "[00:03.00]<00:03.00>a<00:03.20>gain <00:03.60>and<00:03.90> <00:04.10>on<00:04.40>\n"
            "[00:05.00]\n")
    lyrics = load_lyrics(write(tmp_path, "words.lrc", text))
    first, second = lyrics.segments
    assert (first.start, first.end, first.text) == (1.0, 3.0, "Hello big world")
    assert word_spans(first) == [(1.0, 1.5, "Hello"), (1.5, 2.0, "big"), (2.0, 2.6, "world")]
    # "a" + "gain" glue into one word; "and<t> <t'>" leaves a gap before "on".
    assert word_spans(second) == [(3.0, 3.6, "again"), (3.6, 3.9, "and"), (4.1, 4.4, "on")]
    assert second.end == 5.0
    assert lyrics.has_word_timing


def test_lrc_in_a_txt_file_is_recognised_by_content(tmp_path):
    lyrics = load_lyrics(write(tmp_path, "lyrics.txt", "[00:01.00]one\n[00:02.00]two\n"))
    assert lyrics.source == "lrc" and [s.text for s in lyrics.segments] == ["one", "two"]


def test_lrc_same_timestamp_keeps_first_line_with_warning(tmp_path):
    path = write(tmp_path, "bilingual.lrc", "[00:01.00]Hello\n[00:01.00]Bonjour\n[00:02.00]Bye\n")
    with pytest.warns(LM2DWarning, match=r"bilingual\.lrc:2: same timestamp as line 1"):
        lyrics = load_lyrics(path)
    assert [s.text for s in lyrics.segments] == ["Hello", "Bye"]


def test_lrc_untimed_and_late_words_are_ignored_with_warnings(tmp_path):
    path = write(tmp_path, "w.lrc", "[00:01.00]one\nno time here\n[00:02.00]<00:02.00>two <00:03.50>late\n[00:03.00]\n")
    with pytest.warns(LM2DWarning) as caught:
        lyrics = load_lyrics(path)
    messages = [str(w.message) for w in caught]
    assert any("w.lrc:2: no [mm:ss.xx] timestamp on this line; ignored: 'no time here'" in m for m in messages)
    assert any("w.lrc:3: word(s) 'late' timed after the line ends" in m for m in messages)
    assert spans(lyrics) == [(1.0, 2.0, "one"), (2.0, 3.0, "two")]


# --- SRT ----------------------------------------------------------------------------------

def test_srt_cues_with_multiline_text_and_tags(tmp_path):
    text = ("1\n00:00:01,000 --> 00:00:03,500\n<i>First line</i>\nwraps here\n\n"
            "2\n00:00:04,250 --> 00:00:06,000 X1:10 X2:20\n{\\an8}<font color=\"red\">Rock &amp; roll</font>\n\n"
            "3\n01:00:00.5 --> 01:00:01.000\nlate\n")
    lyrics = load_lyrics(write(tmp_path, "subs.srt", text))
    assert lyrics.source == "srt"
    assert spans(lyrics) == [(1.0, 3.5, "First line wraps here"), (4.25, 6.0, "Rock & roll"),
                             (3600.5, 3601.0, "late")]


def test_srt_overlapping_cue_is_cut_with_a_warning(tmp_path):
    text = "1\n00:00:01,000 --> 00:00:05,000\none\n\n2\n00:00:04,000 --> 00:00:06,000\ntwo\n"
    with pytest.warns(LM2DWarning, match=r"overlap\.srt:2: 1 line\(s\) overlap"):
        lyrics = load_lyrics(write(tmp_path, "overlap.srt", text))
    assert spans(lyrics) == [(1.0, 4.0, "one"), (4.0, 6.0, "two")]


# --- CSV ----------------------------------------------------------------------------------

def test_csv_line_rows_with_jamendo_and_plain_headers(tmp_path):
    jamendo = write(tmp_path, "jamendo.csv", "start_time,end_time,lyrics_line\n"
                                             "32.448,34.100,through days of thunders\n"
                                             "34.262,40.096,\"continuing, stolid smiles\"\n")
    assert spans(load_lyrics(jamendo)) == [(32.448, 34.1, "through days of thunders"),
                                           (34.262, 40.096, "continuing, stolid smiles")]
    simple = write(tmp_path, "simple.csv", "Start;End;Text\n1.0;2.0;one\n2.5;3.0;two\n")
    assert spans(load_lyrics(simple)) == [(1.0, 2.0, "one"), (2.5, 3.0, "two")]


def test_csv_word_rows_grouped_by_line_end_column(tmp_path):
    path = write(tmp_path, "words.csv", "word_start,word_end,word,line_end\n"
                                        "1.0,1.4,hello,nan\n1.5,2.0,world,2.0\n"
                                        "2.2,2.5,next,nan\n2.6,3.0,line,3.0\n")
    lyrics = load_lyrics(path)
    assert spans(lyrics) == [(1.0, 2.0, "hello world"), (2.2, 3.0, "next line")]
    assert word_spans(lyrics.segments[0]) == [(1.0, 1.4, "hello"), (1.5, 2.0, "world")]


def test_csv_word_rows_without_line_end_split_at_pauses(tmp_path):
    path = write(tmp_path, "words.csv", "word_start,word_end,word\n"
                                        "1.0,1.4,hello\n1.5,2.0,world\n3.5,4.0,after\n4.1,4.5,pause\n")
    assert spans(load_lyrics(path)) == [(1.0, 2.0, "hello world"), (3.5, 4.5, "after pause")]


# --- UltraStar ----------------------------------------------------------------------------

def test_on_the_run_ultrastar(shared_data):
    song = shared_data / "songs" / "on_the_run"
    lyrics = load_lyrics(song / "song.txt", Song(song / "audio.ogg"))
    assert lyrics.source == "ultrastar"
    assert lyrics.metadata["title"] == "On the run" and lyrics.metadata["artist"] == "Joshua Morin"
    first = lyrics.segments[0]
    assert first.words[0].text == "So"
    assert first.words[0].start == pytest.approx(11.25, abs=1e-3)
    assert first.text == "So far away from home,"  # " a" + "way" are one word
    assert lyrics.segments[-1].end < 288.0
    assert_monotonic(lyrics)
    # ": 718 62 9  soo" then ": 782 5 7 ~n": the "~" syllable continues "soo" into "soon".
    soon = next(w for s in lyrics.segments for w in s.words if w.text == "soon")
    assert soon.start == pytest.approx(11.25 + 718 * SECONDS_PER_BEAT)
    assert soon.end == pytest.approx(11.25 + (782 + 5) * SECONDS_PER_BEAT)


ULTRASTAR_ABSOLUTE = """\
#TITLE:Tiny
#ARTIST:Test
#BPM:150
#GAP:1000,5
: 0 4 0 Hel
: 4 4 0 lo
: 10 2 0  there
- 14
* 20 4 0 Good
F 26 2 0  bye
E
junk after the end is ignored
"""


def test_ultrastar_relative_mode_gives_the_same_times(tmp_path):
    relative = ULTRASTAR_ABSOLUTE.replace("#GAP", "#RELATIVE:yes\n#GAP").replace("- 14", "- 14 18") \
        .replace("* 20 4", "* 2 4").replace("F 26 2", "F 8 2")
    absolute = load_lyrics(write(tmp_path, "abs.txt", ULTRASTAR_ABSOLUTE))
    beat = 60 / (150 * 4)
    assert spans(absolute) == [(round(1.0005, 3), round(1.0005 + 12 * beat, 3), "Hello there"),
                               (round(1.0005 + 20 * beat, 3), round(1.0005 + 28 * beat, 3), "Good bye")]
    assert spans(load_lyrics(write(tmp_path, "rel.txt", relative))) == spans(absolute)


def test_ultrastar_duet_singers_are_merged_in_time_order(tmp_path):
    duet = "#TITLE:Duet\n#BPM:100\n#GAP:0\nP1\n: 0 4 0 one\n- 6\n: 20 4 0 three\nP2\n: 10 4 0 two\nE\n"
    lyrics = load_lyrics(write(tmp_path, "duet.txt", duet))
    assert spans(lyrics) == [(0.0, 0.6, "one"), (1.5, 2.1, "two"), (3.0, 3.6, "three")]


# --- plain text ---------------------------------------------------------------------------

def test_plain_text_is_spread_over_the_sung_part_with_a_warning(tmp_path, shared_data):
    audio = shared_data / "music" / "Karissa_Hobbs_-_Lets_Go_Fishin.ogg"
    path = write(tmp_path, "plain.txt", "[Verse]\nLet's go fishing down by the river\n\n"
                                        "Cast a line\nWe'll catch the biggest one tonight\n")
    with pytest.warns(LM2DWarning, match=r"plain\.txt: has no timestamps: 3 lines spread"):
        lyrics = load_lyrics(path, Song(audio))
    assert lyrics.source == "plain"
    assert [s.text for s in lyrics.segments] == ["Let's go fishing down by the river", "Cast a line",
                                                 "We'll catch the biggest one tonight"]
    assert_monotonic(lyrics)
    start, end = lyrics.segments[0].start, lyrics.segments[-1].end
    # The singing starts after an instrumental intro and ends before the song does (133 s).
    assert 5.0 < start < end < 133.0 and end - start > 60.0
    durations = [s.end - s.start for s in lyrics.segments]
    assert durations[1] < durations[0] and durations[1] < durations[2]  # 3 syllables vs 9 and 9


def test_vocal_span_matches_the_karaoke_timing_and_finds_no_singing_in_an_instrumental(shared_data):
    song = shared_data / "songs" / "on_the_run"
    sung = load_lyrics(song / "song.txt")
    span = Song(song / "audio.ogg").vocal_span
    assert span == pytest.approx((sung.segments[0].start, sung.segments[-1].end), abs=1.0)
    assert Song(shared_data / "music" / "Kevin_MacLeod_-_Vibe_Ace.ogg").vocal_span is None


def test_plain_text_without_audio_is_refused(tmp_path):
    with pytest.raises(LM2DError, match=r"plain\.txt: has no timestamps; untimed lyrics need the audio"):
        load_lyrics(write(tmp_path, "plain.txt", "just words\n"))


# --- round trips --------------------------------------------------------------------------

def test_json_round_trip_is_exact_to_the_millisecond(tmp_path, shared_data):
    lyrics = load_lyrics(shared_data / "songs" / "on_the_run" / "song.txt")
    again = load_lyrics(write(tmp_path, "again.json", lyrics_to_json(lyrics)))
    assert lyrics_to_json(again) == lyrics_to_json(lyrics)
    assert again.segments[0].words[0].start == lyrics.segments[0].words[0].start == 11.25


@pytest.mark.parametrize("origin", ["ultrastar", "enhanced lrc", "srt"])
def test_lrc_round_trip_keeps_line_and_word_times(tmp_path, shared_data, origin):
    if origin == "ultrastar":
        lyrics = load_lyrics(shared_data / "songs" / "on_the_run" / "song.txt")
    elif origin == "enhanced lrc":
        lyrics = load_lyrics(write(tmp_path, "w.lrc", "[00:01.00]<00:01.00>Hel<00:01.20>lo <00:01.50>you<00:02.00>\n"
                                                      "[00:02.00]<00:02.00>two<00:02.50>\n[00:03.00]\n"))
    else:
        lyrics = load_lyrics(write(tmp_path, "s.srt", "1\n00:00:01,000 --> 00:00:02,000\none\n\n"
                                                      "2\n00:00:02,000 --> 00:00:04,000\ntwo\n"))
    again = load_lyrics(write(tmp_path, "again.lrc", lyrics_to_lrc(lyrics)))
    assert len(again.segments) == len(lyrics.segments)
    for before, after in zip(lyrics.segments, again.segments):
        assert after.text == before.text
        assert after.start == pytest.approx(before.start, abs=0.006)
        assert after.end == pytest.approx(before.end, abs=0.006)
        assert [w.text for w in after.words] == [w.text for w in before.words]
        for word_before, word_after in zip(before.words, after.words):
            assert (word_after.start, word_after.end) == pytest.approx((word_before.start, word_before.end), abs=0.006)


# --- encodings ----------------------------------------------------------------------------

def test_cp1252_file_is_decoded_with_a_warning(tmp_path):
    path = write(tmp_path, "old.lrc", "[00:01.00]Café déjà vu\n[00:02.00]naïve\n", encoding="cp1252")
    with pytest.warns(LM2DWarning, match=r"old\.lrc: is not valid UTF-8; decoded as cp1252"):
        lyrics = load_lyrics(path)
    assert [s.text for s in lyrics.segments] == ["Café déjà vu", "naïve"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_unicode_files_with_a_bom_are_read_without_warnings(tmp_path, encoding):
    path = write(tmp_path, "bom.srt", "1\n00:00:01,000 --> 00:00:02,000\nÜber ça 日本\n", encoding=encoding)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_lyrics(path).segments[0].text == "Über ça 日本"


# --- bad input: one line naming the file and the line --------------------------------------

BAD_INPUTS = [
    ("song.lrc", "[00:01.00]ok\n[ar:x]\n[00:1x.00]bad\n", r"song\.lrc:3: malformed timestamp '\[00:1x\.00\]'"),
    ("song.lrc", "[00:01.00]ok\n[00:75.00]bad\n", r"song\.lrc:2: malformed timestamp .*seconds must be below 60"),
    ("song.lrc", "[00:01.00]<00:01.00>a <00:0x.5>b\n", r"song\.lrc:1: malformed word timestamp '<00:0x\.5>'"),
    ("song.lrc", "[00:02.00]<00:01.00>early\n", r"song\.lrc:1: word timestamp <00:01\.00> is earlier than the line"),
    ("song.lrc", "[offset:soon]\n[00:01.00]a\n", r"song\.lrc:1: malformed \[offset:soon\]"),
    ("song.lrc", "[ti:only tags]\n[ar:nobody]\n", r"song\.lrc: no \[mm:ss\.xx\] timestamped lyric lines found"),
    ("subs.srt", "1\n00:00:05,000 --> 00:00:06,000\nlater\n\n2\n00:00:01,000 --> 00:00:02,000\nearlier\n",
     r"subs\.srt:6: starts at 1\.000 s, before the line above it \(5\.000 s\)"),
    ("subs.srt", "1\n00:00:05,000 --> 00:00:04,000\nbackwards\n", r"subs\.srt:2: 'backwards' ends \(4\.000 s\) before it starts"),
    ("subs.srt", "1\n00:00:05 --> 00:00:06,000\nx\n", r"subs\.srt:2: malformed cue timing"),
    ("subs.srt", "1\nno timing here\nx\n", r"subs\.srt:2: expected a cue timing line"),
    ("words.csv", "start,end,text\n1.0,2.0,ok\n2.0,abc,bad\n", r"words\.csv:3: end 'abc' is not a time in seconds"),
    ("words.csv", "start,end,text\n3.0,2.0,bad\n", r"words\.csv:2: ends \(2\.000 s\) before it starts"),
    ("words.csv", "begin,finish,text\n1,2,x\n", r"words\.csv:1: CSV header has no start column"),
    ("song.txt", "#TITLE:x\n#GAP:0\n: 0 1 0 a\n", r"song\.txt: UltraStar file has no #BPM header"),
    ("song.txt", "#BPM:100\n: 0 1 0 a\n: x 1 0 b\n", r"song\.txt:3: not an UltraStar line"),
    ("song.txt", "#BPM:100\n: 10 1 0 a\n: 5 1 0 b\n", r"song\.txt:3: note at beat 5 comes before the previous note"),
    ("song.json", "{\"segments\": [{\"start\": 1}]}", r"song\.json: not a lyrics JSON document"),
    ("empty.lrc", "", r"empty\.lrc: is empty"),
    ("blank.txt", "\n  \n\t\n", r"blank\.txt: is empty"),
]


@pytest.mark.parametrize("name, text, message", BAD_INPUTS, ids=[m[:30] for _, _, m in BAD_INPUTS])
def test_bad_input_names_file_and_line(tmp_path, name, text, message):
    with pytest.raises(LM2DError, match=message) as caught:
        load_lyrics(write(tmp_path, name, text))
    assert "\n" not in str(caught.value)


def test_time_past_the_end_of_the_audio_names_the_line(tmp_path):
    path = write(tmp_path, "song.lrc", "[00:01.00]fine\n[00:05.00]too late\n[00:07.00]\n")
    with pytest.raises(LM2DError, match=r"song\.lrc:2: starts at 5\.00 s, past the end of the audio \(4\.00 s\)"):
        load_lyrics(path, audio_duration=4.0)
    srt = write(tmp_path, "s.srt", "1\n00:00:01,000 --> 00:00:04,500\nruns over\n")
    with pytest.raises(LM2DError, match=r"s\.srt:2: ends at 4\.50 s, past the end of the audio \(4\.00 s\)"):
        load_lyrics(srt, audio_duration=4.0)


def test_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "garbage.lrc"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LM2DError, match=r"garbage\.lrc(:\d+)?: (is not a text lyrics file|cannot be decoded)"):
        load_lyrics(path)
    utf16_without_bom = tmp_path / "nobom.txt"
    utf16_without_bom.write_bytes("[00:01.00]hello\n".encode("utf-16-le"))
    with pytest.raises(LM2DError, match=r"nobom\.txt:1: is not a text lyrics file \(binary data"):
        load_lyrics(utf16_without_bom)


def test_missing_file(tmp_path):
    with pytest.raises(LM2DError, match=r"nope\.lrc: no such lyrics file"):
        load_lyrics(tmp_path / "nope.lrc")


# --- CLI ----------------------------------------------------------------------------------

def test_cli_prints_json_and_lrc(tmp_path, capsys):
    path = write(tmp_path, "song.lrc", LRC_WITH_EVERYTHING)
    assert main(["lyrics", str(path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["text"] for s in document["segments"]][:2] == ["This chorus comes twice", "Second line"]
    assert main(["lyrics", str(path), "--format", "lrc"]) == 0
    out = capsys.readouterr().out
    assert "[ti:A Song]" in out.splitlines()
    assert "[00:09.50]This chorus comes twice" in out.splitlines()


def test_cli_bad_input_prints_one_line_and_returns_2(tmp_path, capsys):
    path = write(tmp_path, "song.lrc", "[00:01.00]ok\n[00:1x.00]bad\n")
    assert main(["lyrics", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0
    assert captured.err.startswith("error: ") and "song.lrc:2: malformed timestamp" in captured.err
