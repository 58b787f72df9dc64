{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 6,
			"revision": 0,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [
			40.0,
			80.0,
			1980.0,
			1080.0
		],
		"bglocked": 0,
		"openinpresentation": 0,
		"default_fontsize": 12.0,
		"default_fontface": 0,
		"default_fontname": "Arial",
		"gridonopen": 1,
		"gridsize": [
			15.0,
			15.0
		],
		"gridsnaponopen": 1,
		"objectsnaponopen": 1,
		"statusbarvisible": 2,
		"toolbarvisible": 1,
		"lefttoolbarpinned": 0,
		"toptoolbarpinned": 0,
		"righttoolbarpinned": 0,
		"bottomtoolbarpinned": 0,
		"toolbars_unpinned_last_save": 0,
		"tallnewobj": 0,
		"boxanimatetime": 200,
		"enablehscroll": 1,
		"enablevscroll": 1,
		"devicewidth": 0.0,
		"description": "",
		"digest": "",
		"tags": "",
		"style": "",
		"subpatcher_template": "",
		"assistshowspatchername": 0,
		"boxes": [
			{
				"box": {
					"fontsize": 13.0,
					"id": "obj-1",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						10.0,
						1000.0,
						34.0
					],
					"text": "gesam XY: play the gesam drum map from Max. Every control sends OSC over UDP to the engine at 127.0.0.1:9000 (gesam serve's default). Feedback (bottom) listens on 9001: start the engine with --feedback 127.0.0.1:9001."
				}
			},
			{
				"box": {
					"id": "obj-2",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						590.0,
						160.0,
						22.0
					],
					"text": "udpsend 127.0.0.1 9000"
				}
			},
			{
				"box": {
					"id": "obj-3",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						200.0,
						590.0,
						300.0,
						20.0
					],
					"text": "to the engine: OSC over UDP to 127.0.0.1:9000"
				}
			},
			{
				"box": {
					"id": "obj-4",
					"linecount": 4,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						60.0,
						230.0,
						62.0
					],
					"text": "1. XY pad: drag to move the cursor on the map (x to the right, y up, 0..1). Sends /gesam/xy x y; the engine starts making that exact sound."
				}
			},
			{
				"box": {
					"bottomvalue": 0,
					"id": "obj-5",
					"leftvalue": 0,
					"maxclass": "pictslider",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"int",
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						30.0,
						125.0,
						200.0,
						200.0
					],
					"rightvalue": 1000,
					"topvalue": 1000
				}
			},
			{
				"box": {
					"id": "obj-6",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						330.0,
						230.0,
						34.0
					],
					"text": "bottomvalue 0, topvalue 1000: y grows upward, as on the map"
				}
			},
			{
				"box": {
					"id": "obj-7",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"float"
					],
					"patching_rect": [
						30.0,
						365.0,
						55.0,
						22.0
					],
					"text": "/ 1000."
				}
			},
			{
				"box": {
					"id": "obj-8",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"float"
					],
					"patching_rect": [
						130.0,
						365.0,
						55.0,
						22.0
					],
					"text": "/ 1000."
				}
			},
			{
				"box": {
					"id": "obj-9",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						30.0,
						465.0,
						100.0,
						22.0
					],
					"text": "pak 0. 0."
				}
			},
			{
				"box": {
					"id": "obj-10",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						30.0,
						495.0,
						117.0,
						22.0
					],
					"text": "/gesam/xy $1 $2"
				}
			},
			{
				"box": {
					"id": "obj-11",
					"linecount": 3,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						290.0,
						60.0,
						230.0,
						48.0
					],
					"text": "2. Play: click to play the cursor's sound at this velocity (0..1). Sends /gesam/trigger v."
				}
			},
			{
				"box": {
					"id": "obj-12",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						290.0,
						115.0,
						40.0,
						40.0
					]
				}
			},
			{
				"box": {
					"id": "obj-13",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"float"
					],
					"patching_rect": [
						290.0,
						200.0,
						45.0,
						22.0
					],
					"text": "f 1."
				}
			},
			{
				"box": {
					"id": "obj-14",
					"maxclass": "flonum",
					"maximum": 1.0,
					"minimum": 0.0,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						360.0,
						125.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-15",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						360.0,
						160.0,
						80.0,
						22.0
					],
					"text": "loadmess 1."
				}
			},
			{
				"box": {
					"id": "obj-16",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						425.0,
						125.0,
						70.0,
						20.0
					],
					"text": "velocity"
				}
			},
			{
				"box": {
					"id": "obj-17",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						290.0,
						230.0,
						131.0,
						22.0
					],
					"text": "/gesam/trigger $1"
				}
			},
			{
				"box": {
					"id": "obj-18",
					"linecount": 5,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						290.0,
						270.0,
						240.0,
						76.0
					],
					"text": "3. MIDI in: each note-on plays the cursor's sound with velocity/127 (/gesam/trigger v). Toggle on: notes go to the engine as /gesam/note n v instead (notes 36-51 play pads 0-15, others play the cursor pitched)."
				}
			},
			{
				"box": {
					"id": "obj-19",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"int",
						"int",
						"int"
					],
					"patching_rect": [
						290.0,
						350.0,
						60.0,
						22.0
					],
					"text": "notein"
				}
			},
			{
				"box": {
					"id": "obj-20",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"int",
						"int"
					],
					"patching_rect": [
						290.0,
						380.0,
						70.0,
						22.0
					],
					"text": "stripnote"
				}
			},
			{
				"box": {
					"id": "obj-21",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						290.0,
						410.0,
						60.0,
						22.0
					],
					"text": "pack 0 0"
				}
			},
			{
				"box": {
					"id": "obj-22",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						440.0,
						350.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-23",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						468.0,
						352.0,
						90.0,
						20.0
					],
					"text": "-> /gesam/note"
				}
			},
			{
				"box": {
					"id": "obj-24",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"patching_rect": [
						440.0,
						380.0,
						35.0,
						22.0
					],
					"text": "+ 1"
				}
			},
			{
				"box": {
					"id": "obj-25",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"patching_rect": [
						290.0,
						440.0,
						60.0,
						22.0
					],
					"text": "gate 2 1"
				}
			},
			{
				"box": {
					"id": "obj-26",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"int",
						"int"
					],
					"patching_rect": [
						290.0,
						470.0,
						70.0,
						22.0
					],
					"text": "unpack 0 0"
				}
			},
			{
				"box": {
					"id": "obj-27",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						"float"
					],
					"patching_rect": [
						340.0,
						500.0,
						50.0,
						22.0
					],
					"text": "/ 127."
				}
			},
			{
				"box": {
					"id": "obj-28",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						340.0,
						530.0,
						131.0,
						22.0
					],
					"text": "/gesam/trigger $1"
				}
			},
			{
				"box": {
					"id": "obj-29",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						420.0,
						470.0,
						131.0,
						22.0
					],
					"text": "/gesam/note $1 $2"
				}
			},
			{
				"box": {
					"id": "obj-30",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						560.0,
						60.0,
						620.0,
						34.0
					],
					"text": "4. Pads 0-15 (bottom row 0-3, as on a drum controller): click to play pad n with its stored point, pitch, level and choke group. Sends /gesam/pad/n/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-31",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						560.0,
						260.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-32",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						586.0,
						262.0,
						24.0,
						20.0
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-33",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						560.0,
						286.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/0/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-34",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						720.0,
						260.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-35",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						746.0,
						262.0,
						24.0,
						20.0
					],
					"text": "1"
				}
			},
			{
				"box": {
					"id": "obj-36",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						720.0,
						286.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/1/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-37",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						880.0,
						260.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-38",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						906.0,
						262.0,
						24.0,
						20.0
					],
					"text": "2"
				}
			},
			{
				"box": {
					"id": "obj-39",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						880.0,
						286.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/2/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-40",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1040.0,
						260.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-41",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1066.0,
						262.0,
						24.0,
						20.0
					],
					"text": "3"
				}
			},
			{
				"box": {
					"id": "obj-42",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1040.0,
						286.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/3/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-43",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						560.0,
						205.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-44",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						586.0,
						207.0,
						24.0,
						20.0
					],
					"text": "4"
				}
			},
			{
				"box": {
					"id": "obj-45",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						560.0,
						231.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/4/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-46",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						720.0,
						205.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-47",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						746.0,
						207.0,
						24.0,
						20.0
					],
					"text": "5"
				}
			},
			{
				"box": {
					"id": "obj-48",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						720.0,
						231.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/5/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-49",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						880.0,
						205.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-50",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						906.0,
						207.0,
						24.0,
						20.0
					],
					"text": "6"
				}
			},
			{
				"box": {
					"id": "obj-51",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						880.0,
						231.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/6/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-52",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1040.0,
						205.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-53",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1066.0,
						207.0,
						24.0,
						20.0
					],
					"text": "7"
				}
			},
			{
				"box": {
					"id": "obj-54",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1040.0,
						231.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/7/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-55",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						560.0,
						150.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-56",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						586.0,
						152.0,
						24.0,
						20.0
					],
					"text": "8"
				}
			},
			{
				"box": {
					"id": "obj-57",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						560.0,
						176.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/8/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-58",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						720.0,
						150.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-59",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						746.0,
						152.0,
						24.0,
						20.0
					],
					"text": "9"
				}
			},
			{
				"box": {
					"id": "obj-60",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						720.0,
						176.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/9/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-61",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						880.0,
						150.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-62",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						906.0,
						152.0,
						24.0,
						20.0
					],
					"text": "10"
				}
			},
			{
				"box": {
					"id": "obj-63",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						880.0,
						176.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/10/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-64",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1040.0,
						150.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-65",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1066.0,
						152.0,
						24.0,
						20.0
					],
					"text": "11"
				}
			},
			{
				"box": {
					"id": "obj-66",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1040.0,
						176.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/11/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-67",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						560.0,
						95.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-68",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						586.0,
						97.0,
						24.0,
						20.0
					],
					"text": "12"
				}
			},
			{
				"box": {
					"id": "obj-69",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						560.0,
						121.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/12/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-70",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						720.0,
						95.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-71",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						746.0,
						97.0,
						24.0,
						20.0
					],
					"text": "13"
				}
			},
			{
				"box": {
					"id": "obj-72",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						720.0,
						121.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/13/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-73",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						880.0,
						95.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-74",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						906.0,
						97.0,
						24.0,
						20.0
					],
					"text": "14"
				}
			},
			{
				"box": {
					"id": "obj-75",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						880.0,
						121.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/14/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-76",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1040.0,
						95.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-77",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1066.0,
						97.0,
						24.0,
						20.0
					],
					"text": "15"
				}
			},
			{
				"box": {
					"id": "obj-78",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1040.0,
						121.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/15/trigger 1."
				}
			},
			{
				"box": {
					"id": "obj-79",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						560.0,
						330.0,
						400.0,
						34.0
					],
					"text": "5. Engine: output gain (0..4), load saved kit n (as a MIDI program change), stop every voice, check the connection (answered by /gesam/pong)."
				}
			},
			{
				"box": {
					"id": "obj-80",
					"maxclass": "flonum",
					"maximum": 4.0,
					"minimum": 0.0,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						560.0,
						380.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-81",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						622.0,
						380.0,
						40.0,
						20.0
					],
					"text": "gain"
				}
			},
			{
				"box": {
					"id": "obj-82",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						560.0,
						425.0,
						110.0,
						22.0
					],
					"text": "/gesam/gain $1"
				}
			},
			{
				"box": {
					"id": "obj-83",
					"maxclass": "number",
					"maximum": 127,
					"minimum": 0,
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						680.0,
						380.0,
						50.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-84",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						732.0,
						380.0,
						40.0,
						20.0
					],
					"text": "kit"
				}
			},
			{
				"box": {
					"id": "obj-85",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						680.0,
						425.0,
						103.0,
						22.0
					],
					"text": "/gesam/kit $1"
				}
			},
			{
				"box": {
					"id": "obj-86",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						790.0,
						425.0,
						96.0,
						22.0
					],
					"text": "/gesam/panic"
				}
			},
			{
				"box": {
					"id": "obj-87",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						890.0,
						425.0,
						89.0,
						22.0
					],
					"text": "/gesam/ping"
				}
			},
			{
				"box": {
					"id": "obj-88",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						890.0,
						380.0,
						65.0,
						22.0
					],
					"text": "loadbang"
				}
			},
			{
				"box": {
					"id": "obj-89",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						640.0,
						1000.0,
						34.0
					],
					"text": "6. Feedback from the engine on UDP 9001 (gesam serve --feedback 127.0.0.1:9001): the cursor, the sound class under it (name and colour), a flash when the exact sound is ready, the reason for any refused message, the answer to a ping, where a dropped file landed, the engine's latency and the kit loaded."
				}
			},
			{
				"box": {
					"id": "obj-90",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						30.0,
						685.0,
						120.0,
						22.0
					],
					"text": "udpreceive 9001"
				}
			},
			{
				"box": {
					"id": "obj-91",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 9,
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						""
					],
					"patching_rect": [
						30.0,
						715.0,
						1000.0,
						22.0
					],
					"text": "route /gesam/state/xy /gesam/state/class /gesam/state/ready /gesam/error /gesam/pong /gesam/state/locate /gesam/state/latency /gesam/state/kit"
				}
			},
			{
				"box": {
					"id": "obj-92",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"float",
						"float"
					],
					"patching_rect": [
						30.0,
						750.0,
						80.0,
						22.0
					],
					"text": "unpack 0. 0."
				}
			},
			{
				"box": {
					"id": "obj-93",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						30.0,
						780.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-94",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						95.0,
						780.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-95",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						805.0,
						120.0,
						20.0
					],
					"text": "cursor x, y"
				}
			},
			{
				"box": {
					"id": "obj-96",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						170.0,
						750.0,
						80.0,
						22.0
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-97",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						170.0,
						780.0,
						150.0,
						22.0
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-98",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						170.0,
						805.0,
						150.0,
						20.0
					],
					"text": "class (name colour)"
				}
			},
			{
				"box": {
					"id": "obj-99",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"patching_rect": [
						330.0,
						750.0,
						60.0,
						22.0
					],
					"text": "zl nth 2"
				}
			},
			{
				"box": {
					"id": "obj-100",
					"maxclass": "newobj",
					"numinlets": 3,
					"numoutlets": 1,
					"outlettype": [
						"list"
					],
					"patching_rect": [
						330.0,
						780.0,
						40.0,
						22.0
					],
					"text": "atoi"
				}
			},
			{
				"box": {
					"id": "obj-101",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"patching_rect": [
						330.0,
						810.0,
						70.0,
						22.0
					],
					"text": "zl slice 1"
				}
			},
			{
				"box": {
					"id": "obj-102",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						840.0,
						330.0,
						22.0
					],
					"text": "vexpr ($i1 - 48) - ($i1 > 64) * 7 - ($i1 > 96) * 32"
				}
			},
			{
				"box": {
					"id": "obj-103",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 6,
					"outlettype": [
						"int",
						"int",
						"int",
						"int",
						"int",
						"int"
					],
					"patching_rect": [
						330.0,
						870.0,
						130.0,
						22.0
					],
					"text": "unpack 0 0 0 0 0 0"
				}
			},
			{
				"box": {
					"id": "obj-104",
					"maxclass": "newobj",
					"numinlets": 3,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						930.0,
						90.0,
						22.0
					],
					"text": "pack 0 0 0"
				}
			},
			{
				"box": {
					"id": "obj-105",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						900.0,
						105.0,
						22.0
					],
					"text": "expr $i1 * 16 + $i2"
				}
			},
			{
				"box": {
					"id": "obj-106",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						440.0,
						900.0,
						105.0,
						22.0
					],
					"text": "expr $i1 * 16 + $i2"
				}
			},
			{
				"box": {
					"id": "obj-107",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						550.0,
						900.0,
						105.0,
						22.0
					],
					"text": "expr $i1 * 16 + $i2"
				}
			},
			{
				"box": {
					"id": "obj-108",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						960.0,
						200.0,
						22.0
					],
					"text": "vexpr $f1 / 255. @scalarmode 1"
				}
			},
			{
				"box": {
					"id": "obj-109",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						990.0,
						70.0,
						22.0
					],
					"text": "append 1."
				}
			},
			{
				"box": {
					"id": "obj-110",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						330.0,
						1020.0,
						125.0,
						22.0
					],
					"text": "prepend bgfillcolor"
				}
			},
			{
				"box": {
					"bgcolor": [
						0.5,
						0.5,
						0.5,
						1.0
					],
					"bgfillcolor_color": [
						0.5,
						0.5,
						0.5,
						1.0
					],
					"bgfillcolor_type": "color",
					"id": "obj-111",
					"maxclass": "panel",
					"mode": 0,
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						470.0,
						990.0,
						120.0,
						50.0
					]
				}
			},
			{
				"box": {
					"id": "obj-112",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						470.0,
						1045.0,
						220.0,
						20.0
					],
					"text": "class colour (#rrggbb -> RGB 0..1)"
				}
			},
			{
				"box": {
					"id": "obj-113",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						700.0,
						750.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-114",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						726.0,
						752.0,
						60.0,
						20.0
					],
					"text": "ready"
				}
			},
			{
				"box": {
					"id": "obj-115",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						790.0,
						750.0,
						80.0,
						22.0
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-116",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						790.0,
						780.0,
						300.0,
						22.0
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-117",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						880.0,
						750.0,
						115.0,
						22.0
					],
					"text": "print gesam-error"
				}
			},
			{
				"box": {
					"id": "obj-118",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						790.0,
						805.0,
						300.0,
						20.0
					],
					"text": "error: why the engine refused a message"
				}
			},
			{
				"box": {
					"id": "obj-119",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1010.0,
						750.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-120",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1036.0,
						752.0,
						50.0,
						20.0
					],
					"text": "pong"
				}
			},
			{
				"box": {
					"id": "obj-121",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						660.0,
						840.0,
						135.0,
						22.0
					],
					"text": "print gesam-feedback"
				}
			},
			{
				"box": {
					"id": "obj-122",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						660.0,
						865.0,
						250.0,
						20.0
					],
					"text": "other feedback goes to the Max console"
				}
			},
			{
				"box": {
					"id": "obj-123",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"outlettype": [
						"float",
						"float",
						""
					],
					"patching_rect": [
						30.0,
						840.0,
						100.0,
						22.0
					],
					"text": "unpack 0. 0. s"
				}
			},
			{
				"box": {
					"id": "obj-124",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						140.0,
						840.0,
						130.0,
						22.0
					],
					"text": "prepend set located:"
				}
			},
			{
				"box": {
					"id": "obj-125",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						30.0,
						870.0,
						270.0,
						22.0
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-126",
					"linecount": 2,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						30.0,
						895.0,
						280.0,
						34.0
					],
					"text": "the class of the dropped file (the cursor moves to its x, y)"
				}
			},
			{
				"box": {
					"id": "obj-127",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 6,
					"outlettype": [
						"float",
						"float",
						"float",
						"float",
						"float",
						"float"
					],
					"patching_rect": [
						700.0,
						900.0,
						160.0,
						22.0
					],
					"text": "unpack 0. 0. 0. 0. 0. 0."
				}
			},
			{
				"box": {
					"id": "obj-128",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						700.0,
						930.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-129",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"patching_rect": [
						765.0,
						930.0,
						60.0,
						22.0
					]
				}
			},
			{
				"box": {
					"id": "obj-130",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						830.0,
						930.0,
						210.0,
						20.0
					],
					"text": "engine latency ms: trigger, timed"
				}
			},
			{
				"box": {
					"id": "obj-131",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						870.0,
						900.0,
						110.0,
						22.0
					],
					"text": "/gesam/latency"
				}
			},
			{
				"box": {
					"id": "obj-132",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"int",
						""
					],
					"patching_rect": [
						700.0,
						970.0,
						70.0,
						22.0
					],
					"text": "unpack 0 s"
				}
			},
			{
				"box": {
					"id": "obj-133",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						780.0,
						970.0,
						110.0,
						22.0
					],
					"text": "prepend set kit:"
				}
			},
			{
				"box": {
					"id": "obj-134",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						700.0,
						1000.0,
						200.0,
						22.0
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-135",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						905.0,
						1000.0,
						220.0,
						20.0
					],
					"text": "kit loaded, randomised or undone"
				}
			},
			{
				"box": {
					"id": "obj-136",
					"linecount": 3,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1330.0,
						60.0,
						620.0,
						48.0
					],
					"text": "7. Kit: Randomize gives every unlocked pad a new point inside its name's class region (/gesam/kit/randomize); Undo restores the pads as they were before the last kit change (/gesam/kit/undo). A locked pad keeps its point: /gesam/pad/n/lock 1 (0 frees it)."
				}
			},
			{
				"box": {
					"id": "obj-137",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1330.0,
						115.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-138",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1356.0,
						117.0,
						70.0,
						20.0
					],
					"text": "randomize"
				}
			},
			{
				"box": {
					"id": "obj-139",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						145.0,
						152.0,
						22.0
					],
					"text": "/gesam/kit/randomize"
				}
			},
			{
				"box": {
					"id": "obj-140",
					"maxclass": "button",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"bang"
					],
					"patching_rect": [
						1530.0,
						115.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-141",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1556.0,
						117.0,
						70.0,
						20.0
					],
					"text": "undo"
				}
			},
			{
				"box": {
					"id": "obj-142",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1530.0,
						145.0,
						117.0,
						22.0
					],
					"text": "/gesam/kit/undo"
				}
			},
			{
				"box": {
					"id": "obj-143",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1330.0,
						355.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-144",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1356.0,
						357.0,
						60.0,
						20.0
					],
					"text": "lock 0"
				}
			},
			{
				"box": {
					"id": "obj-145",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						381.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/0/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-146",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1490.0,
						355.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-147",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1516.0,
						357.0,
						60.0,
						20.0
					],
					"text": "lock 1"
				}
			},
			{
				"box": {
					"id": "obj-148",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1490.0,
						381.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/1/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-149",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1650.0,
						355.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-150",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1676.0,
						357.0,
						60.0,
						20.0
					],
					"text": "lock 2"
				}
			},
			{
				"box": {
					"id": "obj-151",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1650.0,
						381.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/2/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-152",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1810.0,
						355.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-153",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1836.0,
						357.0,
						60.0,
						20.0
					],
					"text": "lock 3"
				}
			},
			{
				"box": {
					"id": "obj-154",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1810.0,
						381.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/3/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-155",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1330.0,
						300.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-156",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1356.0,
						302.0,
						60.0,
						20.0
					],
					"text": "lock 4"
				}
			},
			{
				"box": {
					"id": "obj-157",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						326.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/4/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-158",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1490.0,
						300.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-159",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1516.0,
						302.0,
						60.0,
						20.0
					],
					"text": "lock 5"
				}
			},
			{
				"box": {
					"id": "obj-160",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1490.0,
						326.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/5/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-161",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1650.0,
						300.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-162",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1676.0,
						302.0,
						60.0,
						20.0
					],
					"text": "lock 6"
				}
			},
			{
				"box": {
					"id": "obj-163",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1650.0,
						326.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/6/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-164",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1810.0,
						300.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-165",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1836.0,
						302.0,
						60.0,
						20.0
					],
					"text": "lock 7"
				}
			},
			{
				"box": {
					"id": "obj-166",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1810.0,
						326.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/7/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-167",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1330.0,
						245.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-168",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1356.0,
						247.0,
						60.0,
						20.0
					],
					"text": "lock 8"
				}
			},
			{
				"box": {
					"id": "obj-169",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						271.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/8/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-170",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1490.0,
						245.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-171",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1516.0,
						247.0,
						60.0,
						20.0
					],
					"text": "lock 9"
				}
			},
			{
				"box": {
					"id": "obj-172",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1490.0,
						271.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/9/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-173",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1650.0,
						245.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-174",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1676.0,
						247.0,
						60.0,
						20.0
					],
					"text": "lock 10"
				}
			},
			{
				"box": {
					"id": "obj-175",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1650.0,
						271.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/10/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-176",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1810.0,
						245.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-177",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1836.0,
						247.0,
						60.0,
						20.0
					],
					"text": "lock 11"
				}
			},
			{
				"box": {
					"id": "obj-178",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1810.0,
						271.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/11/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-179",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1330.0,
						190.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-180",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1356.0,
						192.0,
						60.0,
						20.0
					],
					"text": "lock 12"
				}
			},
			{
				"box": {
					"id": "obj-181",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						216.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/12/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-182",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1490.0,
						190.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-183",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1516.0,
						192.0,
						60.0,
						20.0
					],
					"text": "lock 13"
				}
			},
			{
				"box": {
					"id": "obj-184",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1490.0,
						216.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/13/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-185",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1650.0,
						190.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-186",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1676.0,
						192.0,
						60.0,
						20.0
					],
					"text": "lock 14"
				}
			},
			{
				"box": {
					"id": "obj-187",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1650.0,
						216.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/14/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-188",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"outlettype": [
						"int"
					],
					"parameter_enable": 0,
					"patching_rect": [
						1810.0,
						190.0,
						24.0,
						24.0
					]
				}
			},
			{
				"box": {
					"id": "obj-189",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1836.0,
						192.0,
						60.0,
						20.0
					],
					"text": "lock 15"
				}
			},
			{
				"box": {
					"id": "obj-190",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1810.0,
						216.0,
						150.0,
						22.0
					],
					"text": "/gesam/pad/15/lock $1"
				}
			},
			{
				"box": {
					"id": "obj-191",
					"linecount": 3,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1330.0,
						420.0,
						620.0,
						48.0
					],
					"text": "8. Query by example: drop an audio file (WAV, AIFF, FLAC, OGG, MP3) from the Finder or Explorer on the box below. Sends /gesam/locate path; the engine moves the cursor to where that sound lies on the map (feedback: the located class, and the cursor)."
				}
			},
			{
				"box": {
					"id": "obj-192",
					"maxclass": "dropfile",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						""
					],
					"patching_rect": [
						1330.0,
						475.0,
						200.0,
						60.0
					]
				}
			},
			{
				"box": {
					"id": "obj-193",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1540.0,
						495.0,
						160.0,
						20.0
					],
					"text": "drop a sound file here"
				}
			},
			{
				"box": {
					"id": "obj-194",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"outlettype": [
						"",
						"int"
					],
					"patching_rect": [
						1330.0,
						545.0,
						150.0,
						22.0
					],
					"text": "conformpath slash boot"
				}
			},
			{
				"box": {
					"id": "obj-195",
					"linecount": 5,
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1490.0,
						545.0,
						460.0,
						76.0
					],
					"text": "dropfile gives Max's path (Macintosh HD:/Users/me/kick.wav), which the engine cannot open. slash boot makes it the system's own: /Users/me/kick.wav on macOS (other disks: /Volumes/Disk/...), and a forward-slash path on Windows, which Python opens too. (native is documented as the old colon style on macOS, so it is not used.)"
				}
			},
			{
				"box": {
					"id": "obj-196",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"outlettype": [
						""
					],
					"patching_rect": [
						1330.0,
						605.0,
						124.0,
						22.0
					],
					"text": "/gesam/locate $1"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"destination": [
						"obj-7",
						0
					],
					"source": [
						"obj-5",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-8",
						0
					],
					"source": [
						"obj-5",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-9",
						0
					],
					"source": [
						"obj-7",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-9",
						1
					],
					"source": [
						"obj-8",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-10",
						0
					],
					"source": [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-14",
						0
					],
					"source": [
						"obj-15",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-13",
						1
					],
					"source": [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-13",
						0
					],
					"source": [
						"obj-12",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-17",
						0
					],
					"source": [
						"obj-13",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-17",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-20",
						0
					],
					"source": [
						"obj-19",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-20",
						1
					],
					"source": [
						"obj-19",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-21",
						0
					],
					"source": [
						"obj-20",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-21",
						1
					],
					"source": [
						"obj-20",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-24",
						0
					],
					"source": [
						"obj-22",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-25",
						0
					],
					"source": [
						"obj-24",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-25",
						1
					],
					"source": [
						"obj-21",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-26",
						0
					],
					"source": [
						"obj-25",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-27",
						0
					],
					"source": [
						"obj-26",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-28",
						0
					],
					"source": [
						"obj-27",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-28",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-29",
						0
					],
					"source": [
						"obj-25",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-29",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-33",
						0
					],
					"source": [
						"obj-31",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-33",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-36",
						0
					],
					"source": [
						"obj-34",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-36",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-39",
						0
					],
					"source": [
						"obj-37",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-39",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-42",
						0
					],
					"source": [
						"obj-40",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-42",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-45",
						0
					],
					"source": [
						"obj-43",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-45",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-48",
						0
					],
					"source": [
						"obj-46",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-48",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-51",
						0
					],
					"source": [
						"obj-49",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-51",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-54",
						0
					],
					"source": [
						"obj-52",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-54",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-57",
						0
					],
					"source": [
						"obj-55",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-57",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-60",
						0
					],
					"source": [
						"obj-58",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-60",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-63",
						0
					],
					"source": [
						"obj-61",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-63",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-66",
						0
					],
					"source": [
						"obj-64",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-66",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-69",
						0
					],
					"source": [
						"obj-67",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-69",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-72",
						0
					],
					"source": [
						"obj-70",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-72",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-75",
						0
					],
					"source": [
						"obj-73",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-75",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-78",
						0
					],
					"source": [
						"obj-76",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-78",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-82",
						0
					],
					"source": [
						"obj-80",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-82",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-85",
						0
					],
					"source": [
						"obj-83",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-85",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-86",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-87",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-87",
						0
					],
					"source": [
						"obj-88",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-91",
						0
					],
					"source": [
						"obj-90",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-92",
						0
					],
					"source": [
						"obj-91",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-93",
						0
					],
					"source": [
						"obj-92",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-94",
						0
					],
					"source": [
						"obj-92",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-96",
						0
					],
					"source": [
						"obj-91",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-97",
						0
					],
					"source": [
						"obj-96",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-99",
						0
					],
					"source": [
						"obj-91",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-99",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-101",
						0
					],
					"source": [
						"obj-100",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-102",
						0
					],
					"source": [
						"obj-101",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-103",
						0
					],
					"source": [
						"obj-102",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-105",
						0
					],
					"source": [
						"obj-103",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-105",
						1
					],
					"source": [
						"obj-103",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-104",
						0
					],
					"source": [
						"obj-105",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-106",
						0
					],
					"source": [
						"obj-103",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-106",
						1
					],
					"source": [
						"obj-103",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-104",
						1
					],
					"source": [
						"obj-106",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-107",
						0
					],
					"source": [
						"obj-103",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-107",
						1
					],
					"source": [
						"obj-103",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-104",
						2
					],
					"source": [
						"obj-107",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						0
					],
					"source": [
						"obj-104",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-109",
						0
					],
					"source": [
						"obj-108",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-110",
						0
					],
					"source": [
						"obj-109",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-111",
						0
					],
					"source": [
						"obj-110",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-113",
						0
					],
					"source": [
						"obj-91",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-115",
						0
					],
					"source": [
						"obj-91",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-116",
						0
					],
					"source": [
						"obj-115",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-117",
						0
					],
					"source": [
						"obj-91",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-119",
						0
					],
					"source": [
						"obj-91",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-121",
						0
					],
					"source": [
						"obj-91",
						8
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-123",
						0
					],
					"source": [
						"obj-91",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-93",
						0
					],
					"source": [
						"obj-123",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-94",
						0
					],
					"source": [
						"obj-123",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-124",
						0
					],
					"source": [
						"obj-123",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-125",
						0
					],
					"source": [
						"obj-124",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-127",
						0
					],
					"source": [
						"obj-91",
						6
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-128",
						0
					],
					"source": [
						"obj-127",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-129",
						0
					],
					"source": [
						"obj-127",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-131",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-132",
						0
					],
					"source": [
						"obj-91",
						7
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-133",
						0
					],
					"source": [
						"obj-132",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-134",
						0
					],
					"source": [
						"obj-133",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-139",
						0
					],
					"source": [
						"obj-137",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-139",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-142",
						0
					],
					"source": [
						"obj-140",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-142",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-145",
						0
					],
					"source": [
						"obj-143",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-145",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-148",
						0
					],
					"source": [
						"obj-146",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-148",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-151",
						0
					],
					"source": [
						"obj-149",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-151",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-154",
						0
					],
					"source": [
						"obj-152",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-154",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-157",
						0
					],
					"source": [
						"obj-155",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-157",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-160",
						0
					],
					"source": [
						"obj-158",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-160",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-163",
						0
					],
					"source": [
						"obj-161",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-163",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-166",
						0
					],
					"source": [
						"obj-164",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-166",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-169",
						0
					],
					"source": [
						"obj-167",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-169",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-172",
						0
					],
					"source": [
						"obj-170",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-172",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-175",
						0
					],
					"source": [
						"obj-173",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-175",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-178",
						0
					],
					"source": [
						"obj-176",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-178",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-181",
						0
					],
					"source": [
						"obj-179",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-181",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-184",
						0
					],
					"source": [
						"obj-182",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-184",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-187",
						0
					],
					"source": [
						"obj-185",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-187",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-190",
						0
					],
					"source": [
						"obj-188",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-190",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-194",
						0
					],
					"source": [
						"obj-192",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-196",
						0
					],
					"source": [
						"obj-194",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-2",
						0
					],
					"source": [
						"obj-196",
						0
					]
				}
			}
		],
		"dependency_cache": [],
		"autosave": 0
	}
}
